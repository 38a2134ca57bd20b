//! Rows and steps defined in a crate of their own, so the tests can check that `pipeline!` sees
//! the columns of steps it did not see defined.

use distil::prelude::*;

/// A prompt, as a loader produces it.
#[derive(Row, Clone, Debug, PartialEq)]
pub struct Prompt {
    pub instruction: String,
}

/// A generated text and the model that wrote it.
#[derive(Row, Clone, Debug, PartialEq)]
pub struct Generation {
    pub generation: String,
    pub model_name: String,
}

/// A score for a generation.
#[derive(Row, Clone, Debug, PartialEq)]
pub struct Score {
    pub score: u64,
}

/// Pretends to generate: echoes the instruction, reversed.
#[step]
pub fn echo_generation(instruction: &str, #[param(default = "echo")] model: String) -> Generation {
    Generation {
        generation: instruction.chars().rev().collect(),
        model_name: model,
    }
}

/// Scores a generation by its length.
#[step]
pub fn length_score(generation: &str) -> Score {
    Score {
        score: generation.len() as u64,
    }
}

/// Steps in a module of the crate, reached as `distil_test_steps::nested::Shorten`.
pub mod nested {
    use distil::prelude::*;

    /// A shortened generation.
    #[derive(Row)]
    pub struct Short {
        pub short: String,
    }

    /// Keeps the first `len` characters of the generation.
    #[step]
    pub fn shorten(generation: &str, #[param(default = 3usize)] len: usize) -> Short {
        Short {
            short: generation.chars().take(len).collect(),
        }
    }
}
