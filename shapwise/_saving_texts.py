"""Saving explainers of texts: a Text masker's Hugging Face tokenizer by its own
``save_pretrained`` (``tokenizer.json`` and its configuration), and a transformers model (of a
text-classification pipeline, or a language model explained by teacher forcing) by
``save_pretrained`` in safetensors, with the adapter's options as JSON.

Reading them back runs no code from the file: the folders hold only JSON, tokenizer files and
safetensors weights, and are read with ``local_files_only`` and ``trust_remote_code=False``.
A Text masker of a regular expression keeps its pattern; one of a tokenizing function is not
saved (a function is code): pass ``masker_saver`` / ``masker_loader`` of your own.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shapwise._saving_models import SavingError, load_model, save_model

_SAFE_READ = {"local_files_only": True, "trust_remote_code": False}


# ------------------------------------------------------------------------------------ folders
def _write_folder(archive: zipfile.ZipFile, prefix: str, write: Callable[[str], Any]) -> None:
    """What ``write(folder)`` puts in a fresh folder, stored in ``archive`` under ``prefix``."""
    with tempfile.TemporaryDirectory() as folder:
        write(folder)
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                archive.write(path, prefix + path.relative_to(folder).as_posix())


def _read_folder(archive: zipfile.ZipFile, prefix: str, read: Callable[[str], Any]) -> Any:
    """``read(folder)`` of the files stored under ``prefix``, each a plain name in the folder
    (a name that would land elsewhere is refused)."""
    names = [name for name in archive.namelist() if name.startswith(prefix)]
    if not names:
        raise SavingError(f"this file has no {prefix.rstrip('/')} folder")
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            relative = name[len(prefix) :]
            parts = relative.split("/")
            if any(part in ("", ".", "..") for part in parts) or "\\" in relative:
                raise SavingError(f"this file holds an entry outside its folder: {name!r}")
            target = Path(folder, *parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
        return read(folder)


def _save_tokenizer(tokenizer: Any, archive: zipfile.ZipFile, prefix: str) -> None:
    if not hasattr(tokenizer, "save_pretrained"):
        raise SavingError(
            f"the tokenizer ({type(tokenizer).__name__}) has no save_pretrained; pass "
            "masker_saver and masker_loader functions of your own"
        )
    _write_folder(archive, prefix, tokenizer.save_pretrained)


def _load_tokenizer(archive: zipfile.ZipFile, prefix: str) -> Any:
    from transformers import AutoTokenizer

    return _read_folder(
        archive, prefix, lambda folder: AutoTokenizer.from_pretrained(folder, **_SAFE_READ)
    )


def _json_options(options: dict[str, Any], what: str) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(options))
    except TypeError as error:
        raise SavingError(
            f"{what} holds options that are not plain numbers and strings ({error}); pass "
            "model_saver and model_loader functions of your own"
        ) from None


# ------------------------------------------------------------------------------------ masker
def save_text_masker(masker: Any, archive: zipfile.ZipFile) -> dict[str, Any]:
    """A Text masker's entry: its tokenizer under ``masker/tokenizer/``, its options."""
    options = {
        "how": "text",
        "mask_token": masker.mask_token,
        "collapse_mask_token": masker.collapse_mask_token,
    }
    if masker.hf_tokenizer is not None:
        _save_tokenizer(masker.hf_tokenizer, archive, "masker/tokenizer/")
        return options
    separators = getattr(masker, "separators", None)
    if separators is None:
        raise SavingError(
            "a Text masker of a tokenizing function is not saved (a function is code); pass "
            "masker_saver and masker_loader functions of your own (e.g. masker_saver=False and "
            "masker_loader=lambda _: masker)"
        )
    return {**options, "separators": str(separators)}


def load_text_masker(stored: dict[str, Any], archive: zipfile.ZipFile) -> Any:
    """The Text masker :func:`save_text_masker` stored."""
    from shapwise.maskers.text import Text

    if "separators" in stored:
        tokenizer = str(stored["separators"])
    else:
        tokenizer = _load_tokenizer(archive, "masker/tokenizer/")
    return Text(
        tokenizer,
        mask_token=str(stored["mask_token"]),
        collapse_mask_token=bool(stored["collapse_mask_token"]),
    )


# ------------------------------------------------------------------------------------ model
def is_text_model(model: Any) -> bool:
    """Whether ``model`` is an adapter this module saves (a pipeline or teacher forcing)."""
    from shapwise.text_models import TeacherForcing, TransformersPipeline

    return isinstance(model, (TransformersPipeline, TeacherForcing))


def save_text_model(model: Any, saver: Any, archive: zipfile.ZipFile) -> dict[str, Any]:
    """The entry of a TransformersPipeline or TeacherForcing adapter: the transformers model
    (safetensors, or as ``saver`` says), its tokenizer and the adapter's options."""
    from shapwise.text_models import TransformersPipeline

    if isinstance(model, TransformersPipeline):
        network, tokenizer = model.pipeline.model, model.tokenizer
        options = {
            "adapter": "pipeline",
            "rescale_to_logits": model.rescale_to_logits,
            "forward_batch_size": model.forward_batch_size,
            "function_to_apply": model.function_to_apply,
            "tokenizer_options": model._tokenizer_options,
        }
    else:
        network, tokenizer = model.language_model, model.tokenizer
        options = {
            "adapter": "teacher_forcing",
            "forward_batch_size": model.forward_batch_size,
            "max_new_tokens": model.generation.max_new_tokens,
            "generate_kwargs": model.generation.generate_kwargs,
        }
    options = _json_options(options, f"the {type(model).__name__} adapter")
    _save_tokenizer(tokenizer, archive, "model_tokenizer/")
    if isinstance(saver, str) and saver in (".save", "auto"):
        _write_folder(
            archive,
            "model/",
            lambda folder: network.save_pretrained(folder, safe_serialization=True),
        )
        stored = {"how": "transformers"}
    else:
        stored = save_model(network, saver, archive, None)
    return {**stored, "text": options}


def load_text_model(
    stored: dict[str, Any],
    archive: zipfile.ZipFile,
    loader: Callable[[Any], Any] | None,
    allow_pickle: bool,
    in_file: Any,
) -> Any:
    """The adapter :func:`save_text_model` stored, around the transformers model read back
    (``loader(file)`` gives it for the user's own saver)."""
    from shapwise.text_models import TeacherForcing, TextGeneration, TransformersPipeline

    options = stored["text"]
    tokenizer = _load_tokenizer(archive, "model_tokenizer/")
    pipeline_adapter = options["adapter"] == "pipeline"
    if stored["how"] == "transformers" and loader is None:
        network = _read_folder(
            archive, "model/", lambda folder: _pretrained(folder, pipeline_adapter)
        )
    else:
        network = load_model(stored, archive, loader, allow_pickle, in_file)
    if pipeline_adapter:
        from transformers import pipeline

        classifier = pipeline(
            "text-classification",
            model=network,
            tokenizer=tokenizer,
            device=network.device,
            **options["tokenizer_options"],
        )
        adapter = TransformersPipeline(
            classifier,
            rescale_to_logits=bool(options["rescale_to_logits"]),
            batch_size=int(options["forward_batch_size"]),
        )
        adapter.function_to_apply = str(options["function_to_apply"])
        return adapter
    generation = TextGeneration(
        network, tokenizer, int(options["max_new_tokens"]), **options["generate_kwargs"]
    )
    return TeacherForcing(
        network, tokenizer, batch_size=int(options["forward_batch_size"]), generation=generation
    )


def _pretrained(folder: str, classifier: bool) -> Any:
    """The transformers model in ``folder``: its class from its configuration, weights from
    safetensors only, in the dtype it was saved in."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(folder, **_SAFE_READ)
    if classifier:
        kind = transformers.AutoModelForSequenceClassification
    elif getattr(config, "is_encoder_decoder", False):
        kind = transformers.AutoModelForSeq2SeqLM
    else:
        kind = transformers.AutoModelForCausalLM
    model = kind.from_pretrained(folder, use_safetensors=True, dtype="auto", **_SAFE_READ)
    return model.eval()
