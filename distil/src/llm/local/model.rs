//! A llama-family transformer read from a GGUF file, run by candle on the CPU.
//!
//! Unlike candle-transformers' `quantized_llama`, every sequence keeps its own key/value cache,
//! so one forward pass carries the new tokens of several sequences at different positions: the
//! weight matrices (the cost of a decoding step) are read once for all of them, and only the
//! attention runs per sequence.

use std::io::{Read, Seek};

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Result, Tensor};

use super::matmul::QMatrix;

/// Per-layer weights. The query, key and value projections read the same input, as do the
/// gate and up projections: each group is one matrix, one pass over the input.
struct Layer {
    attn_norm: Tensor,
    qkv: QMatrix,
    wo: QMatrix,
    ffn_norm: Tensor,
    gate_up: QMatrix,
    down: QMatrix,
}

/// The model's shape, from the GGUF metadata.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub context: usize,
    pub eps: f64,
}

/// The weights of a model, shared by all sequences.
pub(crate) struct Model {
    embeddings: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    output: QMatrix,
    cos: Tensor,
    sin: Tensor,
    pub shape: Shape,
}

/// One sequence's key/value cache.
#[derive(Default)]
pub(crate) struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    /// Tokens already in the cache.
    pub len: usize,
}

/// New tokens of one sequence for a forward pass.
pub(crate) struct Segment<'a> {
    pub tokens: &'a [u32],
    pub cache: &'a mut KvCache,
}

fn metadata<'a>(content: &'a gguf_file::Content, key: &str) -> Result<&'a gguf_file::Value> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| candle_core::Error::Msg(format!("the GGUF has no `{key}`")))
}

impl Model {
    /// Reads the weights: Q4_1 matrices as they are, others as Q8_0 (see [`QMatrix`]).
    pub fn load<R: Read + Seek>(content: &gguf_file::Content, reader: &mut R) -> Result<Model> {
        let arch = metadata(content, "general.architecture")?
            .to_string()?
            .clone();
        if arch != "llama" {
            candle_core::bail!(
                "architecture `{arch}` is not supported (llama-family GGUF models only)"
            );
        }
        let key = |k: &str| format!("{arch}.{k}");
        let heads = metadata(content, &key("attention.head_count"))?.to_u32()? as usize;
        let kv_heads = metadata(content, &key("attention.head_count_kv"))
            .and_then(|v| v.to_u32())
            .map_or(heads, |v| v as usize);
        let embedding = metadata(content, &key("embedding_length"))?.to_u32()? as usize;
        let layers = metadata(content, &key("block_count"))?.to_u32()? as usize;
        let context = metadata(content, &key("context_length"))
            .and_then(|v| v.to_u32())
            .map_or(4096, |v| v as usize);
        let eps = metadata(content, &key("attention.layer_norm_rms_epsilon"))?.to_f32()? as f64;
        let rope_base = metadata(content, &key("rope.freq_base"))
            .and_then(|v| v.to_f32())
            .unwrap_or(10_000.0);
        let head_dim = embedding / heads;
        let device = Device::Cpu;

        let mut tensor = |name: &str| content.tensor(reader, name, &device);
        let token_embd = tensor("token_embd.weight")?;
        let embeddings = token_embd.dequantize(&device)?;
        let output = match tensor("output.weight") {
            Ok(t) => QMatrix::from_qtensors(&[t])?,
            // Tied embeddings (SmolLM2): the output head is the embedding matrix.
            Err(_) => QMatrix::from_qtensors(&[token_embd])?,
        };
        let norm = tensor("output_norm.weight")?.dequantize(&device)?;
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let mut get = |n: &str| tensor(&format!("blk.{i}.{n}.weight"));
            blocks.push(Layer {
                attn_norm: get("attn_norm")?.dequantize(&device)?,
                qkv: QMatrix::from_qtensors(&[get("attn_q")?, get("attn_k")?, get("attn_v")?])?,
                wo: QMatrix::from_qtensors(&[get("attn_output")?])?,
                ffn_norm: get("ffn_norm")?.dequantize(&device)?,
                gate_up: QMatrix::from_qtensors(&[get("ffn_gate")?, get("ffn_up")?])?,
                down: QMatrix::from_qtensors(&[get("ffn_down")?])?,
            });
        }
        let inv_freq: Vec<f32> = (0..head_dim / 2)
            .map(|i| 1.0 / rope_base.powf(2.0 * i as f32 / head_dim as f32))
            .collect();
        let inv_freq = Tensor::from_vec(inv_freq, (1, head_dim / 2), &device)?;
        let positions = Tensor::arange(0u32, context as u32, &device)?
            .to_dtype(DType::F32)?
            .reshape((context, 1))?;
        let angles = positions.broadcast_mul(&inv_freq)?;
        Ok(Model {
            embeddings,
            layers: blocks,
            norm,
            output,
            cos: angles.cos()?,
            sin: angles.sin()?,
            shape: Shape {
                heads,
                kv_heads,
                head_dim,
                context,
                eps,
            },
        })
    }

    /// Runs the new tokens of every segment through the model, extending each segment's
    /// cache, and returns the next-token logits of each segment: `(segments, vocab)`.
    pub fn forward(&self, segments: &mut [Segment<'_>]) -> Result<Tensor> {
        let device = Device::Cpu;
        let ids: Vec<u32> = segments
            .iter()
            .flat_map(|s| s.tokens.iter().copied())
            .collect();
        let total = ids.len();
        let ids = Tensor::from_vec(ids, total, &device)?;
        let mut x = self.embeddings.index_select(&ids, 0)?;
        let Shape {
            heads,
            kv_heads,
            head_dim,
            eps,
            ..
        } = self.shape;
        let group = heads / kv_heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        for (l, layer) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, eps as f32)?;
            let qkv = layer.qkv.forward(&h)?;
            let q = qkv.narrow(1, 0, heads * head_dim)?;
            let k = qkv.narrow(1, heads * head_dim, kv_heads * head_dim)?;
            let v = qkv.narrow(1, (heads + kv_heads) * head_dim, kv_heads * head_dim)?;
            let mut outputs = Vec::with_capacity(segments.len());
            let mut offset = 0;
            for segment in segments.iter_mut() {
                let n = segment.tokens.len();
                let start = segment.cache.len;
                let cos = self.cos.narrow(0, start, n)?;
                let sin = self.sin.narrow(0, start, n)?;
                let split = |t: &Tensor, h: usize| -> Result<Tensor> {
                    t.narrow(0, offset, n)?
                        .contiguous()?
                        .reshape((1, n, h, head_dim))?
                        .transpose(1, 2)?
                        .contiguous()
                };
                let qs = candle_nn::rotary_emb::rope_i(&split(&q, heads)?, &cos, &sin)?;
                let ks = candle_nn::rotary_emb::rope_i(&split(&k, kv_heads)?, &cos, &sin)?;
                let vs = split(&v, kv_heads)?;
                let (ks, vs) = match segment.cache.layers.get(l) {
                    Some((pk, pv)) => (Tensor::cat(&[pk, &ks], 2)?, Tensor::cat(&[pv, &vs], 2)?),
                    None => (ks, vs),
                };
                let keys = ks.dims()[2];
                // The query heads sharing a key/value head side by side: (kv, group * n, d).
                let qs = qs.reshape((kv_heads, group * n, head_dim))?;
                let kk = ks.reshape((kv_heads, keys, head_dim))?;
                let vv = vs.reshape((kv_heads, keys, head_dim))?;
                let mut att = (qs.matmul(&kk.t()?)? * scale)?;
                if n > 1 {
                    let mask: Vec<f32> = (0..n)
                        .flat_map(|i| {
                            (0..keys).map(move |j| {
                                if j > start + i {
                                    f32::NEG_INFINITY
                                } else {
                                    0.0
                                }
                            })
                        })
                        .collect();
                    let mask = Tensor::from_vec(mask, (n, keys), &device)?;
                    att = att
                        .reshape((kv_heads, group, n, keys))?
                        .broadcast_add(&mask)?
                        .reshape((kv_heads, group * n, keys))?;
                }
                let att = candle_nn::ops::softmax_last_dim(&att)?;
                let out = att
                    .matmul(&vv)?
                    .reshape((heads, n, head_dim))?
                    .transpose(0, 1)?
                    .reshape((n, heads * head_dim))?;
                outputs.push(out);
                if l < segment.cache.layers.len() {
                    segment.cache.layers[l] = (ks, vs);
                } else {
                    segment.cache.layers.push((ks, vs));
                }
                offset += n;
            }
            let attended = Tensor::cat(&outputs, 0)?;
            x = (x + layer.wo.forward(&attended)?)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, eps as f32)?;
            let gate_up = layer.gate_up.forward(&h)?;
            let ffn = layer.gate_up.rows() / 2;
            let gated = (gate_up.narrow(1, 0, ffn)?.silu()? * gate_up.narrow(1, ffn, ffn)?)?;
            x = (x + layer.down.forward(&gated)?)?;
        }
        let mut last = Vec::with_capacity(segments.len());
        let mut offset = 0;
        for segment in segments.iter_mut() {
            offset += segment.tokens.len();
            last.push((offset - 1) as u32);
            segment.cache.len += segment.tokens.len();
        }
        let last = Tensor::from_vec(last, segments.len(), &device)?;
        let x = x.index_select(&last, 0)?;
        let x = candle_nn::ops::rms_norm(&x, &self.norm, eps as f32)?;
        self.output.forward(&x)
    }
}
