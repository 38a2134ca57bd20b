//! Which files of a dataset repo hold a config's split, in the layouts the Hub uses.

/// Whether `path` is a Parquet file of `split` in `config`, in one of the layouts:
///
/// - `<config>/<split>-00000-of-00001.parquet`: what distil and `datasets.push_to_hub` write
///   for a named config (and `<config>/<split>.parquet`);
/// - `<config>/<split>/0000.parquet`: the Hub's `refs/convert/parquet` revision;
/// - `data/<split>-*.parquet` and `data/<split>/*.parquet`: the default config of
///   `datasets.push_to_hub`, matched only when `config` is `default`.
pub(crate) fn is_split_file(path: &str, config: &str, split: &str) -> bool {
    if !path.ends_with(".parquet") {
        return false;
    }
    let in_folder = |folder: &str| {
        path.strip_prefix(folder)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|rest| is_split_name(rest, split))
    };
    in_folder(config) || (config == "default" && in_folder("data"))
}

/// `<split>-….parquet`, `<split>.parquet` or `<split>/<anything>.parquet`.
fn is_split_name(rest: &str, split: &str) -> bool {
    match rest.split_once('/') {
        Some((folder, file)) => folder == split && !file.contains('/'),
        None => rest
            .strip_prefix(split)
            .is_some_and(|tail| tail == ".parquet" || tail.starts_with('-')),
    }
}

/// The configs that have Parquet files, for an error message when the asked one has none.
pub(crate) fn configs_present<'a>(paths: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut configs: Vec<String> = paths
        .filter(|p| p.ends_with(".parquet"))
        .filter_map(|p| p.split_once('/').map(|(first, _)| first))
        .map(|c| if c == "data" { "default" } else { c }.to_owned())
        .collect();
    configs.sort();
    configs.dedup();
    configs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_hub_layouts() {
        assert!(is_split_file(
            "default/train-00000-of-00002.parquet",
            "default",
            "train"
        ));
        assert!(is_split_file("default/train.parquet", "default", "train"));
        assert!(is_split_file(
            "data/train-00000-of-00001.parquet",
            "default",
            "train"
        ));
        assert!(is_split_file("data/train/0000.parquet", "default", "train"));
        assert!(is_split_file("chat/train/0000.parquet", "chat", "train"));
        assert!(!is_split_file("data/train-00000.parquet", "chat", "train"));
        assert!(!is_split_file(
            "default/test-00000-of-00001.parquet",
            "default",
            "train"
        ));
        assert!(!is_split_file(
            "default/trainer-0.parquet",
            "default",
            "train"
        ));
        assert!(!is_split_file("default/train-0.jsonl", "default", "train"));
        assert!(!is_split_file(
            "other/default/train-0.parquet",
            "default",
            "train"
        ));
    }

    #[test]
    fn lists_configs() {
        let paths = [
            "data/train-0.parquet",
            "chat/train-0.parquet",
            "README.md",
            "chat/test.parquet",
        ];
        assert_eq!(configs_present(paths.into_iter()), ["chat", "default"]);
    }
}
