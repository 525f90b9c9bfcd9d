//! Weight files: safetensors and PyTorch zip-pickle, memory-mapped.
