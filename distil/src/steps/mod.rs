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
