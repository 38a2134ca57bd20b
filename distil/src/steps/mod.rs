//! Built-in steps: loaders and samplers, column operations, and formatting for fine-tuning.

mod chat;
mod columns;
mod dedup;
mod formatting;
mod loaders;
mod sampler;

pub use chat::ChatMessage;
pub use columns::{
    CombineColumns, CombineOutputs, ExpandColumns, GroupColumns, KeepColumns, MergeColumns,
};
pub use dedup::EmbeddingDedup;
pub use formatting::{
    DpoExample, FormatChatGenerationDPO, FormatChatGenerationSFT, FormatTextGenerationDPO,
    FormatTextGenerationSFT, SftExample,
};
#[cfg(feature = "hub")]
pub use loaders::LoadDataFromHub;
pub use loaders::{FileFormat, LoadDataFromDicts, LoadDataFromFileSystem, Untyped};
pub use sampler::DataSampler;

/// Every built-in step type with the constructor that rebuilds it from a pipeline file.
pub(crate) fn constructors() -> Vec<crate::step::Builtin> {
    vec![
        ("KeepColumns", KeepColumns::from_settings),
        ("CombineColumns", CombineColumns::from_settings),
        ("GroupColumns", GroupColumns::from_settings),
        ("MergeColumns", MergeColumns::from_settings),
        ("ExpandColumns", ExpandColumns::from_settings),
        ("DataSampler", DataSampler::from_settings),
        ("EmbeddingDedup", |_| Ok(Box::new(EmbeddingDedup::new()))),
        ("LoadDataFromDicts", LoadDataFromDicts::from_settings),
        (
            "LoadDataFromFileSystem",
            LoadDataFromFileSystem::from_settings,
        ),
        #[cfg(feature = "hub")]
        ("LoadDataFromHub", LoadDataFromHub::from_settings),
        ("CombineOutputs", |_| Ok(Box::new(CombineOutputs::new()))),
        ("FormatTextGenerationSFT", |_| {
            Ok(Box::new(FormatTextGenerationSFT::new()))
        }),
        ("FormatChatGenerationSFT", |_| {
            Ok(Box::new(FormatChatGenerationSFT::new()))
        }),
        ("FormatTextGenerationDPO", |_| {
            Ok(Box::new(FormatTextGenerationDPO::new()))
        }),
        ("FormatChatGenerationDPO", |_| {
            Ok(Box::new(FormatChatGenerationDPO::new()))
        }),
    ]
}
