//! "Did you mean": the one measure of a near name, for the rules and the macros.

use crate::problem::Available;

/// The candidate nearest to `wanted` by edit distance, if it is near enough to be a slip of
/// the keyboard (a third of the longer name, at least one edit). The one measure of "did you
/// mean" for the rules and the macros.
pub fn near_name<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .filter(|c| *c != wanted)
        .map(|c| (strsim::damerau_levenshtein(wanted, c), c))
        .filter(|(d, c)| *d <= (wanted.chars().count().max(c.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_owned())
}

/// An upstream column to offer for a missing input: a near name, else the one column of its type.
pub(crate) fn suggest(wanted: &str, ty: &str, available: &[Available]) -> Option<String> {
    // A mapping that would fail again on the type is no fix: a near name of the right type
    // first, then the only column of that type, then a near name of any type.
    let same_type: Vec<&Available> = available.iter().filter(|a| a.ty == ty).collect();
    near_name(wanted, same_type.iter().map(|a| a.column.as_str()))
        .or_else(|| (same_type.len() == 1).then(|| same_type[0].column.clone()))
        .or_else(|| near_name(wanted, available.iter().map(|a| a.column.as_str())))
}

/// The column a wrong mapping was probably meant for: a near name, else the only candidate.
pub(crate) fn nearest(wrong: &str, candidates: &[&str]) -> Option<String> {
    near_name(wrong, candidates.iter().copied())
        .or_else(|| (candidates.len() == 1).then(|| candidates[0].to_owned()))
}
