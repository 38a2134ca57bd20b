// An argument whose type is no column type: rustc reports it at the argument.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct File {
    path: String,
}

#[derive(Row)]
struct FileSize {
    bytes: u64,
}

#[step]
fn size(path: std::path::PathBuf) -> FileSize {
    FileSize {
        bytes: path.as_os_str().len() as u64,
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<File>::new(vec![]),
        size = Size::new(),
        load >> size,
    };
}
