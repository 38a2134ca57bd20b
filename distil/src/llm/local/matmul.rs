//! The weight matrices and their products with the activations, spread over a rayon pool.
//!
//! candle's own quantized product hands its work to a pool of threads that spin while they
//! wait; on a machine whose cores are shared (other builds, other jobs), a spinning thread takes
//! the core its partner needs and a step stalls for whole scheduler slices: we measured two
//! thirds of the time spent waiting at its barrier. Here the rows of a matrix are split into
//! small tasks that rayon's threads steal from each other, so a descheduled thread's share is
//! done by the others, and an idle thread sleeps. The dot products themselves are candle's
//! Q8_0 kernels (AVX2 chosen at run time, a scalar loop elsewhere).

use candle_core::quantized::k_quants::{BlockQ8_0, GgmlType, QK8_0};
use candle_core::{Device, Result, Tensor};
use rayon::prelude::*;

/// Activation rows a task takes at a time: with the task's weight rows they stay in L1.
const INPUT_TILE: usize = 16;

/// A `(rows, cols)` weight matrix in Q8_0 blocks, row after row.
pub(crate) struct QMatrix {
    rows: usize,
    cols: usize,
    blocks: Vec<BlockQ8_0>,
}

impl QMatrix {
    /// Quantizes `(rows, cols)` values given row after row; `cols` must be a multiple of 32.
    pub fn from_f32(values: &[f32], rows: usize, cols: usize) -> Result<QMatrix> {
        if !cols.is_multiple_of(QK8_0) || values.len() != rows * cols {
            candle_core::bail!(
                "a {rows}x{cols} matrix with {} values cannot be held in blocks of {QK8_0}",
                values.len()
            );
        }
        let per_row = cols / QK8_0;
        let mut blocks = vec![BlockQ8_0::zeros(); rows * per_row];
        blocks
            .par_chunks_mut(per_row)
            .zip(values.par_chunks(cols))
            .for_each(|(out, row)| BlockQ8_0::from_float(row, out));
        Ok(QMatrix { rows, cols, blocks })
    }

    /// Matrices with the same columns stacked: their rows one after the other.
    pub fn from_stacked(parts: &[Tensor]) -> Result<QMatrix> {
        let stacked = Tensor::cat(parts, 0)?;
        let (rows, cols) = stacked.dims2()?;
        QMatrix::from_f32(&stacked.flatten_all()?.to_vec1::<f32>()?, rows, cols)
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `x · Wᵀ` for `x` of shape `(m, cols)`: `(m, rows)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (m, k) = x.dims2()?;
        if k != self.cols {
            candle_core::bail!("an input of {k} features for a matrix of {}", self.cols);
        }
        let values = x.flatten_all()?.to_vec1::<f32>()?;
        let out = self.product(&values, m);
        Tensor::from_vec(out, (m, self.rows), &Device::Cpu)
    }

    /// The product of `m` input rows (row after row) with the matrix, row after row.
    fn product(&self, values: &[f32], m: usize) -> Vec<f32> {
        let k = self.cols;
        let per_row = k / QK8_0;
        let mut input = vec![BlockQ8_0::zeros(); m * per_row];
        input
            .par_chunks_mut(per_row)
            .zip(values.par_chunks(k))
            .for_each(|(out, row)| BlockQ8_0::from_float(row, out));
        // Enough tasks for stealing to even out the threads, each big enough to outweigh
        // its scheduling.
        let threads = rayon::current_num_threads();
        let rows_per_task = (self.rows / (threads * 16)).clamp(4, 256);
        // Computed weight row by weight row, `(rows, m)`, then turned to `(m, rows)`.
        let mut by_row = vec![0f32; self.rows * m];
        by_row
            .par_chunks_mut(rows_per_task * m)
            .enumerate()
            .for_each(|(task, out)| {
                let first = task * rows_per_task;
                let rows = out.len() / m;
                for tile in (0..m).step_by(INPUT_TILE) {
                    let tile_end = m.min(tile + INPUT_TILE);
                    for r in 0..rows {
                        let w = &self.blocks[(first + r) * per_row..(first + r + 1) * per_row];
                        for i in tile..tile_end {
                            out[r * m + i] =
                                BlockQ8_0::vec_dot(k, w, &input[i * per_row..(i + 1) * per_row]);
                        }
                    }
                }
            });
        if m == 1 {
            return by_row;
        }
        let mut out = vec![0f32; m * self.rows];
        for (r, column) in by_row.chunks(m).enumerate() {
            for (i, v) in column.iter().enumerate() {
                out[i * self.rows + r] = *v;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        // A fixed pseudo-random sequence in [-1, 1).
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The product in f32 with plain loops, the reference.
    fn reference(w: &[f32], x: &[f32], rows: usize, cols: usize, m: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * rows];
        for i in 0..m {
            for r in 0..rows {
                out[i * rows + r] = (0..cols).map(|c| w[r * cols + c] * x[i * cols + c]).sum();
            }
        }
        out
    }

    #[test]
    fn products_match_plain_f32_loops_for_one_and_many_rows() {
        let (rows, cols) = (300, 96);
        let w = values(rows * cols, 1);
        let matrix = QMatrix::from_f32(&w, rows, cols).unwrap();
        for m in [1, 3, 17, 40] {
            let x = values(m * cols, m as u32 + 7);
            let expected = reference(&w, &x, rows, cols, m);
            let got = matrix
                .forward(&Tensor::from_vec(x, (m, cols), &Device::Cpu).unwrap())
                .unwrap();
            assert_eq!(got.dims2().unwrap(), (m, rows));
            let got = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
                // 8-bit weights and inputs: within 2% of the dot product's scale.
                assert!(
                    (g - e).abs() < 0.02 * (cols as f32).sqrt(),
                    "m {m}, element {i}: {g} vs {e}"
                );
            }
        }
    }

    #[test]
    fn the_simd_kernel_agrees_with_the_scalar_loop() {
        let cols = 256;
        let mut w = vec![BlockQ8_0::zeros(); cols / QK8_0];
        let mut x = w.clone();
        BlockQ8_0::from_float(&values(cols, 3), &mut w);
        BlockQ8_0::from_float(&values(cols, 4), &mut x);
        let fast = BlockQ8_0::vec_dot(cols, &w, &x);
        let scalar = BlockQ8_0::vec_dot_unopt(cols, &w, &x);
        assert!(
            (fast - scalar).abs() <= 1e-4 * scalar.abs().max(1.0),
            "{fast} vs {scalar}"
        );
    }

    #[test]
    fn a_matrix_whose_columns_are_no_multiple_of_32_is_refused() {
        let err = QMatrix::from_f32(&[0.0; 40], 2, 20).err().unwrap();
        assert!(err.to_string().contains("blocks of 32"), "{err}");
    }
}
