//! A llama-family transformer read from a GGUF file, run by candle on the CPU.
//!
//! Unlike candle-transformers' `quantized_llama`, every sequence keeps its own key/value cache,
//! so one forward pass carries the new tokens of several sequences at different positions: the
//! weight matrices (the cost of a decoding step) are read once for all of them, and only the
//! attention runs per sequence.
//!
//! The attention is distil-kernels' own, on plain vectors: each sequence's cache grows by
//! appending (candle would copy it whole at every step to concatenate), and the query tokens
//! of all sequences are shared out on the rayon pool together, without a tensor operation per
//! sequence and layer.

use std::io::{Read, Seek};

use candle_core::quantized::gguf_file;
use candle_core::{Device, Result, Tensor};
use distil_kernels::Heads;
use rayon::prelude::*;

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
    /// Per position the rotary embedding's cosines and sines, `head_dim / 2` of each.
    cos: Vec<f32>,
    sin: Vec<f32>,
    pub shape: Shape,
}

/// One sequence's key/value cache.
#[derive(Default)]
pub(crate) struct KvCache {
    /// Per layer the keys and the values of every token so far, token after token
    /// (`kv_heads * head_dim` values each).
    layers: Vec<(Vec<f32>, Vec<f32>)>,
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
        let angles: Vec<f32> = (0..context)
            .flat_map(|p| inv_freq.iter().map(move |f| p as f32 * f))
            .collect();
        Ok(Model {
            embeddings,
            layers: blocks,
            norm,
            output,
            cos: angles.iter().map(|a| a.cos()).collect(),
            sin: angles.iter().map(|a| a.sin()).collect(),
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
        let scale = 1.0 / (head_dim as f32).sqrt();
        let shape = Heads {
            heads,
            kv_heads,
            dim: head_dim,
        };
        let (q_width, kv_width) = (heads * head_dim, kv_heads * head_dim);
        let width = q_width + 2 * kv_width;
        let half = head_dim / 2;
        // Per token of the pass: its sequence and how many tokens it sees (itself included).
        let rows: Vec<(usize, usize)> = segments
            .iter()
            .enumerate()
            .flat_map(|(s, segment)| {
                let start = segment.cache.len;
                (0..segment.tokens.len()).map(move |i| (s, start + i + 1))
            })
            .collect();
        if let Some(&(_, visible)) = rows.iter().max_by_key(|r| r.1)
            && visible > self.shape.context
        {
            candle_core::bail!(
                "{visible} tokens do not fit the model's context of {}",
                self.shape.context
            );
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, eps as f32)?;
            // Per token its queries, keys and values, side by side.
            let mut qkv = layer.qkv.forward_values(&h)?;
            for (row, &(s, visible)) in qkv.chunks_exact_mut(width).zip(&rows) {
                let position = visible - 1;
                let cos = &self.cos[position * half..(position + 1) * half];
                let sin = &self.sin[position * half..(position + 1) * half];
                distil_kernels::rope(&mut row[..q_width + kv_width], cos, sin);
                let cache = &mut segments[s].cache.layers;
                if cache.len() <= l {
                    cache.push(Default::default());
                }
                let (keys, values) = &mut cache[l];
                keys.extend_from_slice(&row[q_width..q_width + kv_width]);
                values.extend_from_slice(&row[q_width + kv_width..]);
            }
            let caches: Vec<(&[f32], &[f32])> = segments
                .iter()
                .map(|s| {
                    let (keys, values) = &s.cache.layers[l];
                    (keys.as_slice(), values.as_slice())
                })
                .collect();
            let mut attended = vec![0f32; total * q_width];
            attended
                .par_chunks_mut(q_width)
                .zip(qkv.par_chunks(width))
                .zip(&rows)
                .for_each(|((out, row), &(s, visible))| {
                    let (keys, values) = caches[s];
                    distil_kernels::attend(
                        &row[..q_width],
                        keys,
                        values,
                        visible,
                        shape,
                        scale,
                        out,
                    );
                });
            drop(caches);
            let attended = Tensor::from_vec(attended, (total, q_width), &device)?;
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
