//! The weight matrices of a GGUF model on distil-kernels' quantized products: Q4_1 matrices
//! (the default model's) stay as the file holds them, half the bytes of Q8_0; any other
//! quantization becomes Q8_0.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Result, Tensor};

/// A `(rows, cols)` weight matrix.
pub(crate) struct QMatrix(distil_kernels::QMatrix);

fn kernel_error(message: String) -> candle_core::Error {
    candle_core::Error::Msg(message)
}

impl QMatrix {
    /// Matrices with the same columns, as read from a GGUF file, stacked: their rows one after
    /// the other.
    pub fn from_qtensors(parts: &[QTensor]) -> Result<QMatrix> {
        let mut rows = 0;
        let mut cols = None;
        for part in parts {
            let (r, c) = part.shape().dims2()?;
            if cols.is_some_and(|cols| cols != c) {
                candle_core::bail!("matrices of {c} columns cannot be stacked on others");
            }
            rows += r;
            cols = Some(c);
        }
        let cols = cols.unwrap_or(0);
        let matrix = if parts.iter().all(|p| p.dtype() == GgmlDType::Q4_1) {
            let mut blocks = Vec::new();
            for part in parts {
                blocks.extend_from_slice(&part.data()?);
            }
            distil_kernels::QMatrix::q4_1(&blocks, rows, cols)
        } else {
            let device = Device::Cpu;
            let values = parts
                .iter()
                .map(|p| p.dequantize(&device))
                .collect::<Result<Vec<_>>>()?;
            let values = Tensor::cat(&values, 0)?.flatten_all()?.to_vec1::<f32>()?;
            distil_kernels::QMatrix::q8_0(&values, rows, cols)
        };
        matrix.map(QMatrix).map_err(kernel_error)
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.0.rows()
    }

    /// `x · Wᵀ` for `x` of shape `(m, cols)`: `(m, rows)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let m = x.dims2()?.0;
        Tensor::from_vec(self.forward_values(x)?, (m, self.0.rows()), &Device::Cpu)
    }

    /// [`Self::forward`]'s values, row after row.
    pub fn forward_values(&self, x: &Tensor) -> Result<Vec<f32>> {
        let (m, k) = x.dims2()?;
        if k != self.0.cols() {
            candle_core::bail!("an input of {k} features for a matrix of {}", self.0.cols());
        }
        let values = x.flatten_all()?.to_vec1::<f32>()?;
        Ok(self.0.matmul(&values, m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacked_q4_1_tensors_give_the_product_of_their_dequantized_values() {
        let (cols, m) = (64, 3);
        let device = Device::Cpu;
        let values = |n: usize, k: usize| -> Vec<f32> {
            (0..n).map(|i| ((i * k) % 17) as f32 / 8.0 - 1.0).collect()
        };
        let quantize = |rows: usize, k: usize, dtype| {
            let w = Tensor::from_vec(values(rows * cols, k), (rows, cols), &device).unwrap();
            QTensor::quantize(&w, dtype).unwrap()
        };
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            let parts = [quantize(8, 3, dtype), quantize(4, 5, dtype)];
            let matrix = QMatrix::from_qtensors(&parts).unwrap();
            assert_eq!(matrix.rows(), 12);
            let w: Vec<Tensor> = parts
                .iter()
                .map(|p| p.dequantize(&device).unwrap())
                .collect();
            let w = Tensor::cat(&w, 0).unwrap();
            let x = Tensor::from_vec(values(m * cols, 7), (m, cols), &device).unwrap();
            let expected = x.matmul(&w.t().unwrap()).unwrap().to_vec2::<f32>().unwrap();
            let got = matrix.forward(&x).unwrap().to_vec2::<f32>().unwrap();
            for (g, e) in got.iter().flatten().zip(expected.iter().flatten()) {
                assert!((g - e).abs() < 0.1, "{dtype:?}: {got:?} vs {expected:?}");
            }
        }
        let err = matrix_error();
        assert!(err.contains("blocks of 32"), "{err}");
    }

    fn matrix_error() -> String {
        let w = Tensor::zeros((2, 20), candle_core::DType::F32, &Device::Cpu).unwrap();
        let part = QTensor::quantize(&w, GgmlDType::F32).unwrap();
        QMatrix::from_qtensors(&[part]).err().unwrap().to_string()
    }
}
