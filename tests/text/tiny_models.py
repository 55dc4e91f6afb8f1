"""Tiny Hugging Face tokenizers and models built in memory (nothing is downloaded).

Shared by the text tests and the text benchmark: a WordPiece tokenizer with BERT's special tokens,
a byte-level BPE tokenizer (GPT-2 style), a 2-layer BERT sentiment classifier, a 2-layer GPT-2
and a tiny T5, all seeded.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CORPUS = [
    "I loved the acting, and the music was wonderful.",
    "The plot was boring and the ending made no sense.",
    "A moving film with a great cast.",
    "We left early: the story felt dull and slow.",
    "What a superb, touching performance!",
    "Terrible dialogue, weak plot, bad acting.",
    "The music and the camera work were beautiful.",
    "It is not good. It is not bad either.",
    "Funny, warm and clever from start to finish.",
    "The actors seemed bored, and so were we.",
    "Great fun for the whole family.",
    "An awful waste of time; avoid it.",
]

REVIEWS = [
    "I loved the acting.",
    "The plot was boring.",
    "A moving film, great cast.",
    "We left early.",
    "Superb music!",
    "Terrible dialogue, weak plot.",
    "Beautiful camera work.",
    "It is not good.",
    "Funny and clever.",
    "The actors seemed bored.",
    "Great fun for everyone.",
    "An awful waste of time.",
    "The ending made no sense.",
    "A touching performance.",
    "Dull and slow.",
    "Warm, clever and funny.",
    "Bad acting, bad music.",
    "The cast was wonderful.",
    "Avoid it.",
    "What a great film!",
]


def wordpiece_tokenizer():
    """A BERT-style WordPiece tokenizer ([CLS] text [SEP], lower case) trained on CORPUS."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import WordPieceTrainer
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = WordPieceTrainer(vocab_size=200, special_tokens=specials, min_frequency=1)
    tokenizer.train_from_iterator(CORPUS, trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def byte_level_tokenizer(eos: bool = False):
    """A GPT-2-style byte-level BPE tokenizer trained on CORPUS (no mask token; ``eos``: append
    </s> to every text, as T5's tokenizer does)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from tokenizers.trainers import BpeTrainer
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<pad>", "</s>"]
    trainer = BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    if eos:
        tokenizer.post_processor = processors.TemplateProcessing(
            single="$A </s>", special_tokens=[("</s>", tokenizer.token_to_id("</s>"))]
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=tokenizer, eos_token="</s>", pad_token="<pad>", unk_token="<pad>"
        )
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=True)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|endoftext|>", eos_token="<|endoftext|>"
    )


def bert_pipeline(tokenizer=None, seed: int = 0, **options):
    """A text-classification pipeline of a 2-layer, 32-wide BERT with labels NEGATIVE/POSITIVE
    (``options`` go to ``pipeline``, e.g. top_k=None)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, pipeline

    tokenizer = tokenizer or wordpiece_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        initializer_range=0.5,  # larger weights: outputs that differ from text to text
        pad_token_id=tokenizer.pad_token_id,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
    )
    model = BertForSequenceClassification(config).eval()
    return pipeline(
        "text-classification", model=model, tokenizer=tokenizer, device="cpu", **options
    )


def gpt2_model(tokenizer, seed: int = 0):
    """A 2-layer, 32-wide GPT-2 language model over ``tokenizer``'s vocabulary."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        initializer_range=0.2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return GPT2LMHeadModel(config).eval()


def t5_model(tokenizer, seed: int = 0):
    """A tiny T5 (encoder-decoder, 1 layer each, 32 wide) over ``tokenizer``'s vocabulary."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    return T5ForConditionalGeneration(config).eval()
