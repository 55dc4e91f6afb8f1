"""Model adapters for Hugging Face transformers: classification pipelines and text generation.

Each adapter is a :class:`~shapwise.models.Model` of a 1-D array of (masked) strings. They call
the underlying torch model on padded batches of tokenized strings, never one string per forward
pass, and turn its logits into float64 scores. transformers and torch are imported only when an
adapter is built or called.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from shapwise.models import Model

DEFAULT_BATCH_SIZE = 32
CLASSIFICATION_TASKS = ("text-classification", "sentiment-analysis")
GENERATION_TASKS = ("text-generation", "text2text-generation", "summarization", "translation")
# Masked strings handed to an adapter at once: it runs each distinct one once, in forward passes
# of its batch size over strings sorted by length (little padding).
STRINGS_PER_CALL = 4096


def is_pipeline(model: Any) -> bool:
    """Whether ``model`` is a transformers pipeline (checked without importing transformers)."""
    return any(cls.__module__.startswith("transformers.pipelines") for cls in type(model).__mro__)


def is_language_model(model: Any) -> bool:
    """Whether ``model`` is a transformers model that generates text (a causal or
    sequence-to-sequence language model)."""
    if not type(model).__module__.startswith("transformers."):
        return False
    can_generate = getattr(model, "can_generate", None)
    return bool(can_generate()) if callable(can_generate) else False


def _strings(texts: Any, who: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{who} takes a list or 1-D array of strings, not a single string")
    return [str(text) for text in np.asarray(texts, dtype=object).reshape(-1)]


def _pad(rows: Sequence[Sequence[int]], pad_id: int, left: bool) -> tuple[Any, Any]:
    """Token id lists as a padded (n, length) id tensor and its attention mask."""
    import torch

    length = max(len(row) for row in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        if not row:
            continue
        span = slice(length - len(row), length) if left else slice(0, len(row))
        ids[i, span] = torch.as_tensor(list(row), dtype=torch.long)
        attention[i, span] = 1
    return ids, attention


def _pad_id(tokenizer: Any) -> int:
    for name in ("pad_token_id", "eos_token_id", "unk_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    return 0


def _dtype_name(module: Any) -> str:
    parameter = next(module.parameters(), None)
    return "float32" if parameter is None else str(parameter.dtype).replace("torch.", "")


def _log_odds(log_probabilities: np.ndarray) -> np.ndarray:
    """logit(p) = log p - log(1 - p) from log p, in float64 (stable for p near 0 and 1)."""
    return log_probabilities - np.log(-np.expm1(log_probabilities))


class StringModel(Model):
    """A model of strings that evaluates each distinct string of a call once, in forward passes of
    ``forward_batch_size`` strings of similar length; ``forward_passes`` counts them."""

    def __init__(self, forward_batch_size: int, name: str, dtype: str) -> None:
        super().__init__(self._evaluate, None, name)
        self.forward_batch_size = int(forward_batch_size)
        self.forward_passes = 0
        self.output_dtype = dtype

    def rows_per_call(self, row_shape: tuple[int, ...]) -> int:
        return STRINGS_PER_CALL if self.batch_size is None else self.batch_size

    def _evaluate(self, texts: Any) -> np.ndarray:
        strings = _strings(texts, type(self).__name__)
        distinct, position = np.unique(np.array(strings, dtype=object), return_inverse=True)
        distinct = [str(text) for text in distinct]
        ids = self.token_ids(distinct)
        order = sorted(range(len(distinct)), key=lambda i: len(ids[i]))
        step = self.forward_batch_size
        parts = []
        for start in range(0, len(order), step):
            batch = order[start : start + step]
            parts.append(self.forward([ids[i] for i in batch]))
            self.forward_passes += 1
        sorted_out = np.concatenate(parts)
        out = np.empty_like(sorted_out)
        out[np.asarray(order)] = sorted_out
        return out[position.reshape(-1)]

    def token_ids(self, strings: list[str]) -> list[list[int]]:
        """The token ids of each string, as the model reads it."""
        raise NotImplementedError

    def forward(self, ids: list[list[int]]) -> np.ndarray:
        """The outputs (n, O) float64 of one forward pass over the token id lists ``ids``."""
        raise NotImplementedError


class TransformersPipeline(StringModel):
    """A ``text-classification`` pipeline as a model of strings: one score per label.

    The pipeline's model is called on padded batches of tokenized strings (the pipeline's
    ``batch_size``, else 32 strings per forward pass); the logits go through the function the
    pipeline applies (softmax, sigmoid or none), in float64. Outputs are named from the model's
    ``id2label``. Every label's score is returned, whatever the pipeline's ``top_k``.

    Args:
        pipeline: a transformers ``text-classification`` pipeline (PyTorch).
        rescale_to_logits: return logit(score) instead of the score (shap's option): the values
            then add up in log-odds.
        batch_size: strings per forward pass (default: the pipeline's, else 32).
    """

    def __init__(
        self, pipeline: Any, rescale_to_logits: bool = False, batch_size: int | None = None
    ) -> None:
        if not is_pipeline(pipeline) or getattr(pipeline, "tokenizer", None) is None:
            raise TypeError(
                "TransformersPipeline wraps a transformers text-classification pipeline with a "
                f"tokenizer; got a {type(pipeline).__name__}"
            )
        task = getattr(pipeline, "task", "") or type(pipeline).__name__  # "" when built directly
        if task not in CLASSIFICATION_TASKS and task != "TextClassificationPipeline":
            raise TypeError(
                f"TransformersPipeline explains text-classification pipelines; this one is for "
                f"{task!r}. Explain a generating model's output with "
                "shapwise.Explainer(pipeline.model, pipeline.tokenizer) (teacher forcing)"
            )
        self.pipeline = pipeline
        self.tokenizer = pipeline.tokenizer
        self.rescale_to_logits = bool(rescale_to_logits)
        config = pipeline.model.config
        label2id = {str(k): int(v) for k, v in (getattr(config, "label2id", None) or {}).items()}
        n_labels = max([*label2id.values(), int(getattr(config, "num_labels", 1)) - 1]) + 1
        id2label = {int(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}
        self.output_names = [id2label.get(i, f"LABEL_{i}") for i in range(n_labels)]
        self.function_to_apply = self._score_function(pipeline)
        if self.rescale_to_logits and self.function_to_apply == "NONE":
            raise ValueError(
                "rescale_to_logits needs scores that are probabilities; this pipeline applies no "
                "softmax or sigmoid (a regression model): leave rescale_to_logits=False"
            )
        rows = batch_size or getattr(pipeline, "_batch_size", None) or DEFAULT_BATCH_SIZE
        super().__init__(int(rows), type(pipeline.model).__name__, _dtype_name(pipeline.model))
        self._tokenizer_options = dict(getattr(pipeline, "_preprocess_params", {}) or {})

    @staticmethod
    def _score_function(pipeline: Any) -> str:
        """SOFTMAX, SIGMOID or NONE, chosen as the pipeline chooses."""
        chosen = getattr(pipeline, "_postprocess_params", {}).get("function_to_apply")
        if chosen is not None:
            return str(getattr(chosen, "name", chosen)).upper()
        config = pipeline.model.config
        problem = getattr(config, "problem_type", None)
        if problem == "regression":
            return "NONE"
        if problem == "multi_label_classification" or config.num_labels == 1:
            return "SIGMOID"
        return "SOFTMAX"

    def token_ids(self, strings: list[str]) -> list[list[int]]:
        return self.tokenizer(strings, **self._tokenizer_options)["input_ids"]

    def forward(self, ids: list[list[int]]) -> np.ndarray:
        import torch

        model = self.pipeline.model
        input_ids, attention = _pad(ids, _pad_id(self.tokenizer), left=False)
        with torch.inference_mode():
            logits = model(
                input_ids=input_ids.to(model.device), attention_mask=attention.to(model.device)
            ).logits
        logits = logits.cpu().to(torch.float64).numpy()
        if self.function_to_apply == "SIGMOID":
            return logits if self.rescale_to_logits else 1.0 / (1.0 + np.exp(-logits))
        if self.function_to_apply == "NONE":
            return logits
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        if self.rescale_to_logits:
            return _log_odds(log_probabilities)
        return np.exp(log_probabilities)


class TextGeneration:
    """Greedy text generation with a causal or sequence-to-sequence language model.

    ``generation(prompts)`` gives the generated text of each prompt; :meth:`token_ids` gives
    the generated token ids (without the prompt, the decoder start token and what follows the
    end-of-text token).

    Args:
        model: a transformers language model (PyTorch), e.g. GPT-2 or T5.
        tokenizer: its tokenizer.
        max_new_tokens: the most tokens generated per prompt.
        generate_kwargs: passed on to ``model.generate`` (e.g. ``num_beams``).
    """

    def __init__(
        self, model: Any, tokenizer: Any, max_new_tokens: int = 10, **generate_kwargs: Any
    ) -> None:
        if not is_language_model(model):
            raise TypeError(
                "TextGeneration needs a transformers language model that can generate (such as "
                f"GPT2LMHeadModel or T5ForConditionalGeneration); got a {type(model).__name__}"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = int(max_new_tokens)
        self.generate_kwargs = generate_kwargs

    def token_ids(self, prompt: str) -> list[int]:
        """The ids of the tokens generated after ``prompt``."""
        import torch

        ids = list(self.tokenizer(prompt)["input_ids"])
        input_ids = torch.as_tensor([ids], dtype=torch.long, device=self.model.device)
        settings = {"do_sample": False, "max_new_tokens": self.max_new_tokens}
        settings.update(self.generate_kwargs)
        pad = _pad_id(self.tokenizer)
        with torch.inference_mode():
            generated = self.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                pad_token_id=pad,
                **settings,
            )[0].tolist()
        encoder_decoder = bool(getattr(self.model.config, "is_encoder_decoder", False))
        new = generated[1:] if encoder_decoder else generated[len(ids) :]
        eos = getattr(self.tokenizer, "eos_token_id", None)
        if eos is not None and eos in new:
            new = new[: new.index(eos)]
        return new

    def __call__(self, prompts: Any) -> list[str]:
        """The text generated after each prompt."""
        return [
            self.tokenizer.decode(self.token_ids(prompt))
            for prompt in _strings(prompts, "TextGeneration")
        ]


class TeacherForcing(StringModel):
    """A language model as a model of prompts: the log-odds of each token of a target text.

    For a target y_1..y_T, the output t of a (masked) prompt x is logit P(y_t | x, y_<t), the
    model's probability of the target's t-th token given the prompt and the target tokens before
    it (teacher forcing). Explaining these outputs tells which prompt tokens made each output
    token likely. The target is that of the text being explained: given as
    ``explainer([prompt], [target])``, or generated from the prompt (:class:`TextGeneration`).
    Output names are the target's tokens (a token that comes again is numbered, "the (2)", so
    that every output has its own name).

    Args:
        model: a transformers causal language model (GPT-2 style) or sequence-to-sequence model
            (T5 style), PyTorch.
        tokenizer: its tokenizer (not changed: padding is done here).
        batch_size: prompts per forward pass.
        generation: how targets are generated when none is given (default: greedy
            :class:`TextGeneration` of up to 10 tokens).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        batch_size: int = DEFAULT_BATCH_SIZE,
        generation: TextGeneration | None = None,
    ) -> None:
        if not is_language_model(model):
            raise TypeError(
                "TeacherForcing needs a transformers language model (such as GPT2LMHeadModel or "
                f"T5ForConditionalGeneration); got a {type(model).__name__}"
            )
        self.language_model = model
        self.tokenizer = tokenizer
        self.generation = generation or TextGeneration(model, tokenizer)
        self.encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
        self.target_ids: list[int] | None = None
        self.output_names: list[str] | None = None
        forward = inspect.signature(model.forward).parameters
        self._takes_positions = "position_ids" in forward
        super().__init__(int(batch_size), type(model).__name__, _dtype_name(model))

    def set_target(self, prompt: str, target: str | Sequence[int] | None = None) -> None:
        """Explain the next text's outputs as the tokens of ``target`` (a string, or token ids),
        or of the text generated from ``prompt`` when None."""
        if target is None:
            ids = self.generation.token_ids(prompt)
        elif isinstance(target, str):
            ids = list(self.tokenizer(target, add_special_tokens=False)["input_ids"])
        else:
            ids = [int(i) for i in target]
        if not ids:
            raise ValueError(
                f"the target for the prompt {prompt!r} has no tokens; pass a non-empty target "
                "text, or a model and prompt that generate one"
            )
        self.target_ids = ids
        self.output_names = _numbered([str(self.tokenizer.decode([i])).strip() for i in ids])

    def token_ids(self, strings: list[str]) -> list[list[int]]:
        if self.target_ids is None:
            raise ValueError(
                "TeacherForcing has no target yet: explain prompts with an explainer (which sets "
                "it per text), or call set_target(prompt, target) first"
            )
        return [list(ids) for ids in self.tokenizer(strings)["input_ids"]]

    def forward(self, prompts: list[list[int]]) -> np.ndarray:
        import torch

        target = torch.as_tensor(self.target_ids, dtype=torch.long)
        n, length = len(prompts), len(self.target_ids)
        model, pad = self.language_model, _pad_id(self.tokenizer)
        if self.encoder_decoder:
            input_ids, attention = _pad(prompts, pad, left=False)
            start = model.config.decoder_start_token_id
            start = pad if start is None else int(start)
            decoder = torch.cat([torch.tensor([start]), target[:-1]]).expand(n, length)
            arguments = {
                "input_ids": input_ids,
                "attention_mask": attention,
                "decoder_input_ids": decoder.contiguous(),
            }
            positions = slice(0, length)
        else:
            if min(len(p) for p in prompts) == 0:
                raise ValueError(
                    "a masked prompt has no tokens, so the first target token has nothing to "
                    "follow; use a mask token such as '...' (the default without a mask token)"
                )
            prompt_ids, prompt_attention = _pad(prompts, pad, left=True)
            input_ids = torch.cat([prompt_ids, target.expand(n, length)], dim=1)
            attention = torch.cat([prompt_attention, torch.ones((n, length), dtype=torch.long)], 1)
            arguments = {"input_ids": input_ids, "attention_mask": attention}
            if self._takes_positions:  # positions count from each prompt's first real token
                arguments["position_ids"] = (attention.cumsum(-1) - 1).clamp(min=0)
            width = prompt_ids.shape[1]
            positions = slice(width - 1, width - 1 + length)  # each predicts the next token
        device = model.device
        arguments = {key: value.to(device) for key, value in arguments.items()}
        with torch.inference_mode():
            logits = model(**arguments).logits[:, positions]
        logits = logits.cpu().to(torch.float64)
        log_probabilities = torch.log_softmax(logits, dim=-1)
        chosen = log_probabilities.gather(-1, target.view(1, length, 1).expand(n, length, 1))
        return _log_odds(chosen[..., 0].numpy())


def _numbered(names: list[str]) -> list[str]:
    """``names`` with each repeat numbered by its occurrence: a, b, a (2)."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def set_text_target(model: Model, text: str, target: Any) -> list[str] | None:
    """Before explaining ``text``: point a model that explains a target (TeacherForcing) at
    ``target`` (None: its own generated text); returns the output names for this text."""
    if hasattr(model, "set_target"):
        model.set_target(text, target)
        return list(model.output_names)
    if target is not None:
        raise TypeError(
            f"targets were given with the texts, but the model {model.name} does not take them; "
            "wrap a language model in shapwise.models.TeacherForcing(model, tokenizer)"
        )
    return None


def for_pipeline(pipeline: Any, masker: Any) -> tuple[Model, Any]:
    """The adapter and masker ``Explainer(pipeline)`` uses: ``TransformersPipeline(pipeline)``
    and, when no masker is given, ``maskers.Text(pipeline.tokenizer)``; a generation pipeline's
    model and tokenizer are explained by teacher forcing."""
    from shapwise.maskers.text import Text

    if getattr(pipeline, "task", None) in GENERATION_TASKS:
        return for_language_model(pipeline.model, pipeline.tokenizer if masker is None else masker)
    model = TransformersPipeline(pipeline)
    return model, Text(pipeline.tokenizer) if masker is None else masker


def for_language_model(model: Any, masker: Any) -> tuple[Model, Any]:
    """``Explainer(language_model, tokenizer)``: ``TeacherForcing(model, tokenizer)`` and a Text
    masker of that tokenizer that writes a hidden run as one "..." (as shap does)."""
    from shapwise.maskers.text import Text, is_hf_tokenizer

    if isinstance(masker, Text) and masker.hf_tokenizer is not None:
        return TeacherForcing(model, masker.hf_tokenizer), masker
    if not is_hf_tokenizer(masker):
        raise TypeError(
            "explaining a language model needs its tokenizer: shapwise.Explainer(model, tokenizer)"
        )
    return TeacherForcing(model, masker), Text(masker, mask_token="...", collapse_mask_token=True)
