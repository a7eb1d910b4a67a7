"""Write the real-engine lane's tiny MoE model: config.json, tokenizer.json, tokenizer_config.json.

    python scripts/real_engine/tiny_model.py OUT_DIR [qwen3_moe|glm4_moe]

No weights: SGLang's `--load-format dummy` gives it random ones and reads only the config and the
tokenizer (with its chat template) from --model-path. Fully offline: the byte-level BPE tokenizer
is trained here on a synthetic corpus; needs only `tokenizers`. The qwen3_moe config is the one
the catalog records as `local/tiny-qwen3-moe` (tests/test_real_engine.py checks they agree).

Adapted from ../shared/real-engine/tiny_model.py (the first real-engine run's model).
"""

from __future__ import annotations

import json
import os
import sys

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
WORDS = (
    "the quick brown fox jumps over the lazy dog hello world what is the capital of france "
    "paris london tokyo one two three four five six seven eight nine ten user assistant system "
    "you are a helpful model please answer question"
).split()
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def config(arch: str, ids: dict[str, int]) -> dict:
    """config.json in the (4.x-style) layout of Qwen/Qwen3-30B-A3B, scaled down; or GLM-4.5-Air's."""
    if arch == "glm4_moe":
        # 24 routed experts (not a power of two) keeps the sigmoid/bias router off FlashInfer's
        # JIT dsv3 routing kernel. Not yet launched on a GPU.
        return {
            "architectures": ["Glm4MoeForCausalLM"], "model_type": "glm4_moe",
            "vocab_size": 1024, "hidden_size": 512, "intermediate_size": 1024,
            "moe_intermediate_size": 256, "num_hidden_layers": 2, "first_k_dense_replace": 1,
            "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 128,
            "partial_rotary_factor": 0.5, "n_routed_experts": 24, "n_shared_experts": 1,
            "num_experts_per_tok": 4, "n_group": 1, "topk_group": 1, "norm_topk_prob": True,
            "routed_scaling_factor": 1.0, "topk_method": "noaux_tc", "use_qk_norm": False,
            "attention_bias": True, "hidden_act": "silu", "max_position_embeddings": 4096,
            "rope_theta": 1000000.0, "rope_scaling": None, "rms_norm_eps": 1e-5,
            "tie_word_embeddings": False, "num_nextn_predict_layers": 0,
            "initializer_range": 0.02, "use_cache": True, "torch_dtype": "bfloat16",
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
        }  # fmt: skip
    return {
        "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe",
        "vocab_size": 1024, "hidden_size": 512, "intermediate_size": 1024,
        "moe_intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 8,
        "num_key_value_heads": 4, "head_dim": 128, "num_experts": 16, "num_experts_per_tok": 4,
        "norm_topk_prob": True, "decoder_sparse_step": 1, "mlp_only_layers": [],
        "hidden_act": "silu", "max_position_embeddings": 4096, "rope_theta": 1000000.0,
        "rope_scaling": None, "rms_norm_eps": 1e-6, "attention_bias": False,
        "attention_dropout": 0.0, "tie_word_embeddings": False, "use_sliding_window": False,
        "sliding_window": None, "max_window_layers": 2, "initializer_range": 0.02,
        "output_router_logits": False, "router_aux_loss_coef": 0.001, "use_cache": True,
        "torch_dtype": "bfloat16",
        "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
    }  # fmt: skip


def write(out: str, arch: str = "qwen3_moe") -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    os.makedirs(out, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    corpus = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))] * 20
    trainer = trainers.BpeTrainer(
        vocab_size=1000,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    tok.save(os.path.join(out, "tokenizer.json"))
    ids = {t: tok.token_to_id(t) for t in SPECIALS}
    special = {"special": True, "lstrip": False, "rstrip": False, "normalized": False}
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "bos_token": None,
        "unk_token": None,
        "model_max_length": 4096,
        "clean_up_tokenization_spaces": False,
        "added_tokens_decoder": {
            str(i): {"content": t, **special, "single_word": False} for t, i in ids.items()
        },
        "chat_template": CHAT_TEMPLATE,
    }
    _dump(os.path.join(out, "tokenizer_config.json"), tokenizer_config)
    cfg = config(arch, ids)
    _dump(os.path.join(out, "config.json"), cfg)
    generation = {
        "bos_token_id": cfg["bos_token_id"],
        "eos_token_id": cfg["eos_token_id"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    _dump(os.path.join(out, "generation_config.json"), generation)
    print("wrote", sorted(os.listdir(out)), "tokenizer vocab:", tok.get_vocab_size())


def _dump(path: str, obj: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)


if __name__ == "__main__":
    write(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "qwen3_moe")
