//! The weight matrices and their products with the activations, spread over a rayon pool.
//!
//! candle's own quantized product hands its work to a pool of threads that spin while they
//! wait; on a machine whose cores are shared (other builds, other jobs), a spinning thread takes
//! the core its partner needs and a step stalls for whole scheduler slices: we measured two
//! thirds of the time spent waiting at its barrier. Here the rows of a matrix are split into
//! small tasks that rayon's threads steal from each other, so a descheduled thread's share is
//! done by the others, and an idle thread sleeps.
//!
//! Q4_1 matrices (the default model's) stay as they are in the file, half the bytes of Q8_0,
//! and run on a kernel of our own: the 4-bit levels are unsigned, so one AVX2 `maddubs`
//! multiplies them with the 8-bit inputs directly, and each block of weights, unpacked once,
//! serves up to eight input rows. AVX2 is detected at run time; elsewhere a scalar loop
//! computes the same sums. Other quantizations become Q8_0, on candle's Q8_0 kernels.

use candle_core::quantized::k_quants::{BlockQ8_0, GgmlType, QK8_0};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Result, Tensor};
use rayon::prelude::*;

/// Values per block, in every quantization here.
const BLOCK: usize = 32;
/// Bytes of a Q4_1 block in a GGUF file: scale and minimum (f16), 16 bytes of levels.
const Q4_1_BYTES: usize = 20;

/// A `(rows, cols)` weight matrix, row after row, in blocks of 32 along a row.
pub(crate) struct QMatrix {
    rows: usize,
    cols: usize,
    weights: Weights,
}

enum Weights {
    /// Value `j` of a block is `scale * level + min`; byte `j` of its levels holds level `j`
    /// in its low nibble and level `j + 16` in its high nibble (GGUF's layout).
    Q4_1 {
        scales: Vec<f32>,
        mins: Vec<f32>,
        levels: Vec<[u8; 16]>,
    },
    Q8_0(Vec<BlockQ8_0>),
}

/// Input rows quantized to 8 bits for the Q4_1 kernel: per block a scale, the scaled sum of its
/// levels (for the weights' minimum) and the levels.
struct Inputs {
    per_row: usize,
    scales: Vec<f32>,
    sums: Vec<f32>,
    levels: Vec<[i8; BLOCK]>,
}

impl Inputs {
    fn quantize(values: &[f32], cols: usize) -> Inputs {
        let blocks = values.len() / BLOCK;
        let mut inputs = Inputs {
            per_row: cols / BLOCK,
            scales: vec![0.0; blocks],
            sums: vec![0.0; blocks],
            levels: vec![[0; BLOCK]; blocks],
        };
        for (b, chunk) in values.chunks_exact(BLOCK).enumerate() {
            let max = chunk.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = max / 127.0;
            let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            let mut sum = 0i32;
            for (level, v) in inputs.levels[b].iter_mut().zip(chunk) {
                *level = (v * inverse).round() as i8;
                sum += *level as i32;
            }
            inputs.scales[b] = scale;
            inputs.sums[b] = scale * sum as f32;
        }
        inputs
    }

    fn row(&self, i: usize) -> InputRow<'_> {
        let blocks = i * self.per_row..(i + 1) * self.per_row;
        InputRow {
            scales: &self.scales[blocks.clone()],
            sums: &self.sums[blocks.clone()],
            levels: &self.levels[blocks],
        }
    }
}

#[derive(Clone, Copy)]
struct InputRow<'a> {
    scales: &'a [f32],
    sums: &'a [f32],
    levels: &'a [[i8; BLOCK]],
}

/// One weight row of a Q4_1 matrix.
#[derive(Clone, Copy)]
struct WeightRow<'a> {
    scales: &'a [f32],
    mins: &'a [f32],
    levels: &'a [[u8; 16]],
}

/// The dot products of one Q4_1 weight row with `N` input rows, in plain Rust.
fn dots_scalar<const N: usize>(w: WeightRow<'_>, x: [InputRow<'_>; N]) -> [f32; N] {
    let mut out = [0f32; N];
    for (n, x) in x.iter().enumerate() {
        let mut total = 0f32;
        for b in 0..w.levels.len() {
            let mut sum = 0i32;
            for (j, byte) in w.levels[b].iter().enumerate() {
                sum += (byte & 0x0F) as i32 * x.levels[b][j] as i32;
                sum += (byte >> 4) as i32 * x.levels[b][j + 16] as i32;
            }
            total += w.scales[b] * x.scales[b] * sum as f32 + w.mins[b] * x.sums[b];
        }
        out[n] = total;
    }
    out
}

/// [`dots_scalar`] with AVX2: the caller checks that the CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dots_avx2<const N: usize>(w: WeightRow<'_>, x: [InputRow<'_>; N]) -> [f32; N] {
    use std::arch::x86_64::*;
    let low = _mm256_set1_epi8(0x0F);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); N];
    let mut mins = [0f32; N];
    for b in 0..w.levels.len() {
        // SAFETY: the loads read 16 and 32 bytes from arrays of that size.
        let packed = unsafe { _mm_loadu_si128(w.levels[b].as_ptr().cast()) };
        let levels = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), low);
        for n in 0..N {
            let input = unsafe { _mm256_loadu_si256(x[n].levels[b].as_ptr().cast()) };
            // Unsigned 4-bit levels times signed 8-bit ones: pairs summed in 16 bits (at most
            // 2 * 15 * 127, no saturation), then in 32.
            let products = _mm256_madd_epi16(_mm256_maddubs_epi16(levels, input), ones);
            let scale = _mm256_set1_ps(w.scales[b] * x[n].scales[b]);
            acc[n] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(products), scale, acc[n]);
            mins[n] += w.mins[b] * x[n].sums[b];
        }
    }
    let mut out = [0f32; N];
    for n in 0..N {
        let half = _mm_add_ps(
            _mm256_castps256_ps128(acc[n]),
            _mm256_extractf128_ps(acc[n], 1),
        );
        let half = _mm_add_ps(half, _mm_movehl_ps(half, half));
        let half = _mm_add_ss(half, _mm_shuffle_ps(half, half, 1));
        out[n] = _mm_cvtss_f32(half) + mins[n];
    }
    out
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn dots<const N: usize>(simd: bool, w: WeightRow<'_>, x: [InputRow<'_>; N]) -> [f32; N] {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is true only when the CPU has AVX2 and FMA.
        return unsafe { dots_avx2(w, x) };
    }
    let _ = simd;
    dots_scalar(w, x)
}

fn f16(bytes: &[u8]) -> f32 {
    half::f16::from_le_bytes([bytes[0], bytes[1]]).to_f32()
}

impl QMatrix {
    /// Matrices with the same columns, as read from a GGUF file, stacked: their rows one after
    /// the other. Q4_1 stays Q4_1; anything else becomes Q8_0.
    pub fn from_qtensors(parts: &[QTensor]) -> Result<QMatrix> {
        let mut rows = 0;
        let mut cols = None;
        for part in parts {
            let (r, c) = part.shape().dims2()?;
            if cols.is_some_and(|cols| cols != c) || !c.is_multiple_of(BLOCK) {
                candle_core::bail!("matrices of {c} columns cannot be stacked in blocks of 32");
            }
            rows += r;
            cols = Some(c);
        }
        let cols = cols.unwrap_or(0);
        if parts.iter().all(|p| p.dtype() == GgmlDType::Q4_1) {
            let blocks = rows * cols / BLOCK;
            let mut scales = Vec::with_capacity(blocks);
            let mut mins = Vec::with_capacity(blocks);
            let mut levels = Vec::with_capacity(blocks);
            for part in parts {
                for block in part.data()?.chunks_exact(Q4_1_BYTES) {
                    scales.push(f16(&block[0..2]));
                    mins.push(f16(&block[2..4]));
                    levels.push(block[4..].try_into().expect("16 bytes"));
                }
            }
            if levels.len() != blocks {
                candle_core::bail!(
                    "a Q4_1 matrix of {rows}x{cols} holds {} blocks",
                    levels.len()
                );
            }
            return Ok(QMatrix {
                rows,
                cols,
                weights: Weights::Q4_1 {
                    scales,
                    mins,
                    levels,
                },
            });
        }
        let device = Device::Cpu;
        let values = parts
            .iter()
            .map(|p| p.dequantize(&device))
            .collect::<Result<Vec<_>>>()?;
        let values = Tensor::cat(&values, 0)?.flatten_all()?.to_vec1::<f32>()?;
        QMatrix::from_f32(&values, rows, cols)
    }

    /// Quantizes `(rows, cols)` values given row after row to Q8_0; `cols` must be a multiple
    /// of 32.
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
        Ok(QMatrix {
            rows,
            cols,
            weights: Weights::Q8_0(blocks),
        })
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
        let by_row = match &self.weights {
            Weights::Q4_1 {
                scales,
                mins,
                levels,
            } => self.product_q4_1(scales, mins, levels, &values, m),
            Weights::Q8_0(blocks) => self.product_q8_0(blocks, &values, m),
        };
        if m == 1 {
            return Tensor::from_vec(by_row, (1, self.rows), &Device::Cpu);
        }
        let mut out = vec![0f32; m * self.rows];
        for (r, column) in by_row.chunks(m).enumerate() {
            for (i, v) in column.iter().enumerate() {
                out[i * self.rows + r] = *v;
            }
        }
        Tensor::from_vec(out, (m, self.rows), &Device::Cpu)
    }

    /// Weight rows per task: enough tasks for stealing to even out the threads, each big
    /// enough to outweigh its scheduling.
    fn rows_per_task(&self) -> usize {
        (self.rows / (rayon::current_num_threads() * 16)).clamp(4, 256)
    }

    /// The products, weight row by weight row: `(rows, m)`.
    fn product_q4_1(
        &self,
        scales: &[f32],
        mins: &[f32],
        levels: &[[u8; 16]],
        values: &[f32],
        m: usize,
    ) -> Vec<f32> {
        let per_row = self.cols / BLOCK;
        let inputs = Inputs::quantize(values, self.cols);
        let simd = has_avx2();
        let rows_per_task = self.rows_per_task();
        let mut by_row = vec![0f32; self.rows * m];
        by_row
            .par_chunks_mut(rows_per_task * m)
            .enumerate()
            .for_each(|(task, out)| {
                let first = task * rows_per_task;
                let weight_row = |r: usize| {
                    let blocks = (first + r) * per_row..(first + r + 1) * per_row;
                    WeightRow {
                        scales: &scales[blocks.clone()],
                        mins: &mins[blocks.clone()],
                        levels: &levels[blocks],
                    }
                };
                let mut i = 0;
                while i < m {
                    // Eight input rows per pass where there are eight, then four, then one.
                    let tile = match m - i {
                        8.. => 8,
                        4.. => 4,
                        _ => 1,
                    };
                    for r in 0..out.len() / m {
                        let w = weight_row(r);
                        let out = &mut out[r * m + i..r * m + i + tile];
                        match tile {
                            8 => out.copy_from_slice(&dots(
                                simd,
                                w,
                                std::array::from_fn::<_, 8, _>(|n| inputs.row(i + n)),
                            )),
                            4 => out.copy_from_slice(&dots(
                                simd,
                                w,
                                std::array::from_fn::<_, 4, _>(|n| inputs.row(i + n)),
                            )),
                            _ => out.copy_from_slice(&dots(simd, w, [inputs.row(i)])),
                        }
                    }
                    i += tile;
                }
            });
        by_row
    }

    /// The products on candle's Q8_0 kernels, weight row by weight row: `(rows, m)`.
    fn product_q8_0(&self, blocks: &[BlockQ8_0], values: &[f32], m: usize) -> Vec<f32> {
        const INPUT_TILE: usize = 16;
        let k = self.cols;
        let per_row = k / QK8_0;
        let mut input = vec![BlockQ8_0::zeros(); m * per_row];
        input
            .par_chunks_mut(per_row)
            .zip(values.par_chunks(k))
            .for_each(|(out, row)| BlockQ8_0::from_float(row, out));
        let rows_per_task = self.rows_per_task();
        let mut by_row = vec![0f32; self.rows * m];
        by_row
            .par_chunks_mut(rows_per_task * m)
            .enumerate()
            .for_each(|(task, out)| {
                let first = task * rows_per_task;
                for tile in (0..m).step_by(INPUT_TILE) {
                    for r in 0..out.len() / m {
                        let w = &blocks[(first + r) * per_row..(first + r + 1) * per_row];
                        for i in tile..m.min(tile + INPUT_TILE) {
                            out[r * m + i] =
                                BlockQ8_0::vec_dot(k, w, &input[i * per_row..(i + 1) * per_row]);
                        }
                    }
                }
            });
        by_row
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
    fn q8_0_products_match_plain_f32_loops_for_one_and_many_rows() {
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
            check(&got, &expected, cols, &format!("Q8_0, m {m}"));
        }
    }

    fn check(got: &Tensor, expected: &[f32], cols: usize, what: &str) {
        let got = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(got.len(), expected.len(), "{what}");
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            // 8-bit inputs: within 2% of the dot product's scale.
            assert!(
                (g - e).abs() < 0.02 * (cols as f32).sqrt(),
                "{what}, element {i}: {g} vs {e}"
            );
        }
    }

    #[test]
    fn q4_1_products_match_plain_f32_loops_over_the_same_weights() {
        let (cols, m) = (128, 13);
        let device = Device::Cpu;
        let quantize = |rows: usize, seed: u32| {
            let w = Tensor::from_vec(values(rows * cols, seed), (rows, cols), &device).unwrap();
            QTensor::quantize(&w, GgmlDType::Q4_1).unwrap()
        };
        // Two matrices stacked, as the query and key projections are.
        let parts = [quantize(40, 5), quantize(24, 6)];
        let matrix = QMatrix::from_qtensors(&parts).unwrap();
        assert!(matches!(matrix.weights, Weights::Q4_1 { .. }));
        let w: Vec<f32> = parts
            .iter()
            .flat_map(|p| {
                let t = p.dequantize(&device).unwrap();
                t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
            })
            .collect();
        for m in [1, 4, 8, m] {
            let x = values(m * cols, 9 + m as u32);
            let expected = reference(&w, &x, 64, cols, m);
            let got = matrix
                .forward(&Tensor::from_vec(x, (m, cols), &device).unwrap())
                .unwrap();
            assert_eq!(got.dims2().unwrap(), (m, 64));
            check(&got, &expected, cols, &format!("m {m}"));
        }
    }

    #[test]
    fn the_q4_1_simd_kernel_agrees_with_the_scalar_loop() {
        if !has_avx2() {
            return;
        }
        let cols = 256;
        let device = Device::Cpu;
        let w = Tensor::from_vec(values(cols, 3), (1, cols), &device).unwrap();
        let matrix =
            QMatrix::from_qtensors(&[QTensor::quantize(&w, GgmlDType::Q4_1).unwrap()]).unwrap();
        let Weights::Q4_1 {
            scales,
            mins,
            levels,
        } = &matrix.weights
        else {
            panic!("Q4_1 expected");
        };
        let w = WeightRow {
            scales,
            mins,
            levels,
        };
        let inputs = Inputs::quantize(&values(8 * cols, 4), cols);
        let x: [InputRow<'_>; 8] = std::array::from_fn(|n| inputs.row(n));
        let scalar = dots_scalar(w, x);
        let simd = dots(true, w, x);
        let one = dots(true, w, [x[5]]);
        for n in 0..8 {
            let tolerance = 1e-4 * scalar[n].abs().max(1.0);
            assert!(
                (simd[n] - scalar[n]).abs() <= tolerance,
                "{simd:?} vs {scalar:?}"
            );
        }
        assert!((one[0] - scalar[5]).abs() <= 1e-4 * scalar[5].abs().max(1.0));
    }

    #[test]
    fn the_q8_0_simd_kernel_agrees_with_the_scalar_loop() {
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
