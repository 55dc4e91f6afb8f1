"""shap's ``shap.utils.transformers`` helpers for Hugging Face models and tokenizers (imported
from transformers only when an object of that library is handed to them)."""

from __future__ import annotations

from typing import Any

from shapwise.utils.general import safe_isinstance

# Tokenizers whose tokens carry their leading space as "\u2581" (SentencePiece).
SENTENCEPIECE_TOKENIZERS = [
    "transformers.MarianTokenizer",
    "transformers.T5Tokenizer",
    "transformers.XLNetTokenizer",
    "transformers.AlbertTokenizer",
]


def is_transformers_lm(model: Any) -> bool:
    """Whether ``model`` is a Hugging Face language model: a causal or sequence-to-sequence LM
    class of transformers' auto mappings (e.g. ``GPT2LMHeadModel``, ``T5ForConditionalGeneration``;
    not a classifier such as ``BertForSequenceClassification``)."""
    if not (
        safe_isinstance(model, "transformers.PreTrainedModel")
        or safe_isinstance(model, "transformers.TFPreTrainedModel")
    ):
        return False
    from transformers.models.auto import modeling_auto

    names: set[str] = set()
    for mapping in (
        modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        modeling_auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
    ):
        for entry in mapping.values():
            names.update([entry] if isinstance(entry, str) else entry)
    name = type(model).__name__
    return name in names or name.removeprefix("TF") in names


def parse_prefix_suffix_for_tokenizer(tokenizer: Any) -> dict[str, Any]:
    """How many special tokens ``tokenizer`` puts before and after every text.

    Read from what it gives the empty string (``null_tokens``): none (GPT-2), one end-of-text
    token (T5, MarianMT: a suffix), one beginning-of-text token (a prefix), or an even number
    split between the two ends (BERT's [CLS] and [SEP], BART's <s> and </s>).

    Returns:
        ``{"keep_prefix": int, "keep_suffix": int, "null_tokens": list of token ids}``.
    """
    null_tokens = list(tokenizer("")["input_ids"])
    if len(null_tokens) == 1:
        special = getattr(tokenizer, "special_tokens_map", None)
        if not isinstance(special, dict) or not callable(getattr(tokenizer, "decode", None)):
            raise ValueError(
                "The tokenizer gives one token for the empty string but has no "
                "special_tokens_map (and decode) to tell whether it is an end-of-text (eos) or "
                "beginning-of-text (bos) token; pass keep_prefix / keep_suffix yourself"
            )
        decoded = tokenizer.decode(null_tokens[0])
        if "eos_token" in special and decoded == special["eos_token"]:
            return {"keep_prefix": 0, "keep_suffix": 1, "null_tokens": null_tokens}
        if "bos_token" in special and decoded == special["bos_token"]:
            return {"keep_prefix": 1, "keep_suffix": 0, "null_tokens": null_tokens}
        raise ValueError(
            f"The tokenizer gives the empty string one token, {decoded!r}, which is neither its "
            f"eos_token nor its bos_token ({special.get('eos_token')!r}, "
            f"{special.get('bos_token')!r}); pass keep_prefix / keep_suffix yourself"
        )
    if len(null_tokens) % 2:
        raise ValueError(
            f"The tokenizer gives the empty string {len(null_tokens)} special tokens, an odd "
            "number that cannot be split between the start and the end of a text; pass "
            "keep_prefix / keep_suffix yourself"
        )
    half = len(null_tokens) // 2
    return {"keep_prefix": half, "keep_suffix": half, "null_tokens": null_tokens}


def getattr_silent(obj: Any, attr: str) -> Any:
    """``getattr(obj, attr, None)`` without the log messages transformers writes when an unset
    special token is read (its ``verbose`` is switched off meanwhile); ``"None"`` reads as None."""
    verbose = getattr(obj, "verbose", False)
    if verbose:
        obj.verbose = False
    try:
        value = getattr(obj, attr, None)
    finally:
        if verbose:
            obj.verbose = True
    return None if isinstance(value, str) and value == "None" else value
