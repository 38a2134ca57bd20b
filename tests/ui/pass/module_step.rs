// Steps defined in modules, used by path; two modules define a step of the same name.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

mod steps {
    use distil::prelude::*;

    #[derive(Row)]
    pub struct Words {
        pub words: u64,
    }

    #[step]
    pub fn word_count(instruction: &str) -> Words {
        Words {
            words: instruction.split_whitespace().count() as u64,
        }
    }

    pub mod loud {
        use distil::prelude::*;

        #[derive(Row)]
        pub struct Upper {
            pub upper: String,
        }

        #[step]
        pub fn shout(instruction: &str, words: u64) -> Upper {
            Upper {
                upper: instruction.to_uppercase().repeat(words as usize),
            }
        }
    }
}

mod other {
    use distil::prelude::*;

    #[derive(Row)]
    pub struct Quiet {
        pub quiet: String,
    }

    /// Same step name as `steps::loud::Shout`, in another module.
    #[step]
    pub fn shout(upper: &str) -> Quiet {
        Quiet {
            quiet: upper.to_lowercase(),
        }
    }
}

use steps::loud::Shout;

fn main() {
    let pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![Prompt { instruction: "hi".into() }]),
        count = steps::WordCount::new(),
        loud = Shout::new(),
        quiet = other::Shout::new(),
        load >> count >> loud >> quiet,
    };
    assert_eq!(pipeline.step_names().count(), 4);
}
