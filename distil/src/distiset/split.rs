//! `train_test_split`: a seeded shuffle, then both splits written as shards and renamed
//! together.

use std::path::Path;

use arrow_array::{RecordBatch, UInt32Array};
use arrow_select::concat::concat_batches;
use arrow_select::take::take_record_batch;

use super::dataset::Dataset;
use super::read::Batches;
use super::shards::{ShardLimits, ShardWriter};
use crate::{Error, Result};

/// Splits `train` (whose shards are in `dir`) into new `train` and `test` splits.
pub(crate) fn split(
    train: &Dataset,
    dir: &Path,
    train_size: f64,
    seed: u64,
) -> Result<(Dataset, Dataset)> {
    let batches: Vec<RecordBatch> = Batches::new(train.files(), None).collect::<Result<_>>()?;
    let all = concat_batches(train.schema(), &batches).map_err(|e| Error::distiset(dir, e))?;
    drop(batches);
    let n = all.num_rows();
    let mut order: Vec<u32> = (0..n as u32).collect();
    shuffle(&mut order, seed);
    let n_train = ((n as f64) * train_size).floor() as usize;
    let (train_rows, test_rows) = order.split_at(n_train.min(n));
    let mut pending = Vec::new();
    for (split, rows) in [("train", train_rows), ("test", test_rows)] {
        let mut rows = rows.to_vec();
        rows.sort_unstable();
        let part = take_record_batch(&all, &UInt32Array::from(rows))
            .map_err(|e| Error::distiset(dir, e))?;
        let mut writer = ShardWriter::new(dir, split, all.schema(), ShardLimits::default())?;
        writer.write(&part)?;
        pending.push(writer.finish()?);
    }
    let test = pending.pop().expect("two splits").commit()?;
    let train = pending.pop().expect("two splits").commit()?;
    Ok((Dataset::open(train)?, Dataset::open(test)?))
}

/// Fisher–Yates with splitmix64: the same seed gives the same order on every platform and
/// version (unlike `rand`'s small generators, which may change).
fn shuffle(items: &mut [u32], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::shuffle;

    #[test]
    fn shuffle_is_seeded() {
        let mut a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        shuffle(&mut a, 7);
        shuffle(&mut b, 7);
        assert_eq!(a, b);
        let mut c: Vec<u32> = (0..100).collect();
        shuffle(&mut c, 8);
        assert_ne!(a, c);
    }
}
