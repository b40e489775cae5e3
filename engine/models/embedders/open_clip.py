"""CLIP-family models through open_clip: images and text in one space.

Two ways in, chosen by the registry entry's ``layout``:

* ``weights-file``: an architecture open_clip knows (``architecture``) or one the entry gives
  inline (``model_cfg``, registered with open_clip under a name derived from its content), and
  one weights file, passed to open_clip as ``pretrained=<path>``;
* ``local-dir``: a folder with ``open_clip_config.json`` and the weights (a Hugging Face
  snapshot), opened with open_clip's ``local-dir:<folder>``.

Safetensors files are read without pickle; ``.bin``/``.pt`` checkpoints only with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .._torchvision_compat import import_open_clip
from ...errors import InvalidParameterError, ModelLoadError
from ...io.images import ImageRecord, open_image
from ..memo import read_memo, remember
from ..text_tower import local_config
from ..vocabulary import load_vocabulary
from ..registry import ModelSpec, cache_dir, verify_sha256, weights_file
from ..precision import DTYPES, MIN_COSINE, choose_precision
from ...parallel import available_cores
from ...progress import Progress, Work
from ...synthetic.world import SetSpec, render, sample_scene
from concurrent.futures import ThreadPoolExecutor
from .patch_tokens import token_function

PREFETCH = 2  # batches decoded ahead of the one being encoded
BATCH_AT_224 = 32  # images per forward pass at 224 px
MAX_BATCH = 64  # ... at most (spotdiff.models.embedding hands the model 64 images at a time)
DECODE_CHUNK = 8  # images per decoding task: a batch is spread over all cores
BF16_MEMO = "bf16-cosine.json"  # measured bf16-vs-fp32 agreement, per weights, preprocessing, torch, device
TEXT_BATCH = 256  # texts per forward pass: trimmed phrases are short, so larger batches pay off
DEFAULT_PROMPT_TEMPLATES = ("a photo of {}.",)  # CLIP's own framing, for entries that name none


def auto_batch_size(side: int) -> int:
    """Images per forward pass for a model whose input is ``side`` px square: BATCH_AT_224 at 224 px, more for
    smaller inputs (the same pixels per pass), at most MAX_BATCH. At 64 px, 64 images a pass encode ~1.2x faster
    than 32."""
    return int(min(MAX_BATCH, max(BATCH_AT_224, round(BATCH_AT_224 * (224 / max(side, 1)) ** 2))))


def _convolutional(visual: torch.nn.Module) -> bool:
    """Whether a vision tower is convolutional beyond its patch embedding (a ResNet, not a transformer)."""
    return sum(isinstance(m, torch.nn.Conv2d) for m in visual.modules()) > 1


def preprocess_summary(cfg: dict[str, Any]) -> str:
    """One line naming everything open_clip's image transform does, from its PreprocessCfg dict."""
    size = cfg["size"]
    if isinstance(size, (tuple, list)):
        size = size[0] if len(set(size)) == 1 else "x".join(map(str, size))
    mean, std = (",".join(f"{float(x):.6g}" for x in cfg[key]) for key in ("mean", "std"))
    text = f"{size}px,{cfg['interpolation']},{cfg['resize_mode']},mean={mean},std={std}"
    return text + (f",fill={cfg['fill_color']}" if cfg.get("fill_color") else "")


def _register_inline_config(open_clip, spec: ModelSpec) -> str:
    """Make an entry's inline ``model_cfg`` known to open_clip; return the name it goes by.

    The name comes from the config's content, not the entry's name: open_clip picks tokenizers by
    substrings of model names ("siglip"), and two entries with the same architecture share it.
    """
    text = json.dumps(spec.model_cfg, sort_keys=True)
    arch = "spotdiff-inline-" + hashlib.sha256(text.encode()).hexdigest()[:16]
    if arch in open_clip.list_models():
        return arch
    folder = cache_dir() / "open_clip_configs"
    path = folder / f"{arch}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as tmp:
            tmp.write(text)
        os.replace(tmp.name, path)
    except OSError as e:
        raise ModelLoadError(spec.name, spec.source_path,
                             f"cannot write its architecture for open_clip to {path}: {e}") from e
    # open_clip's registry of architectures is global; a file (not the folder) keeps the rescan small
    open_clip.add_model_config(path)
    return arch


def _check_open_clip_picks(open_clip, spec: ModelSpec, folder: Path) -> None:
    """open_clip's "local-dir:" loads the weights file it prefers in the folder; refuse unless that is
    the one whose sha256 was checked (another .safetensors or .bin beside it would win)."""
    find = getattr(getattr(open_clip, "factory", None), "_find_checkpoint_in_dir", None)
    chosen = find(folder) if find is not None else None
    if chosen is not None and Path(chosen).name != spec.filename:
        raise ModelLoadError(spec.name, folder, f"open_clip would load {Path(chosen).name!r} from this folder, not "
                                                f"the checked {spec.filename!r}; remove the other weights file")


class OpenClipEmbedder:
    """An open_clip model as an Embedder and TextEncoder.

    Parameters
    ----------
    spec : registry entry of kind "open_clip"
    weights : what :func:`spotdiff.models.registry.locate_weights` returned: the weights file, or for layout
        local-dir the folder holding it and open_clip_config.json
    device : torch device for the model ("cpu", "cuda", ...)
    precision : "bf16", "fp32" or "auto": bf16 where this CPU runs it natively and the model's bf16
        embeddings agree with fp32 to cosine >= 0.999 on probe images, else fp32
        (see spotdiff.models.precision; SPOTDIFF_PRECISION=fp32 forces fp32); part of ``cache_key``
    batch_size : images per forward pass; None: by the model's input size (:func:`auto_batch_size`)

    The weights are checked and the model loaded in the constructor (raising WeightsIntegrityError
    or ModelLoadError); it stays loaded until :meth:`close`, and loads again, checked again, when
    next used.

    Attributes
    ----------
    name, dim, cache_key, feature_names (None) : as in the Embedder protocol
    weights_sha256 : hex digest of the weights file
    preprocess_cfg : open_clip's preprocessing dict actually used (size, mean, std, ...)
    prompt_templates : tuple of str, how a phrase is framed for the text tower (the entry's
        ``prompt_templates``, else DEFAULT_PROMPT_TEMPLATES)
    vocabulary : tuple of the phrases its text tower can read, or None (any phrase: the full concept bank)
    """

    feature_names = None

    def __init__(self, spec: ModelSpec, weights: Path | str, *, device: str = "cpu",
                 precision: str = "auto", batch_size: int | None = None):
        precision_choice = choose_precision(precision, device)  # validates the name
        if batch_size is not None and not (isinstance(batch_size, int) and batch_size >= 1):
            raise InvalidParameterError("batch_size", batch_size, "a whole number of at least 1, or None (by input size)")
        self.spec = spec
        self.name = spec.name
        self.prompt_templates = tuple(spec.prompt_templates) or DEFAULT_PROMPT_TEMPLATES
        if spec.vocabulary:
            self.vocabulary = load_vocabulary(spec.vocabulary)
        else:
            self.vocabulary = None
        self.weights = Path(weights)
        self.device = device
        self.requested_precision = precision
        self.precision = precision_choice
        self.bf16_cosine = None
        self._auto_batch = batch_size is None
        self.batch_size = batch_size or BATCH_AT_224
        self._model = self._transform = self._tokenizer = None
        self._load()

    # --- loading ---------------------------------------------------------------------------

    def _load(self) -> None:
        spec, file = self.spec, weights_file(self.spec, self.weights)
        self.weights_sha256 = verify_sha256(spec, self.weights)  # remembered: cheap after the first time
        open_clip = import_open_clip()
        pp = spec.preprocess or {}
        overrides = {"image_mean": pp.get("mean"), "image_std": pp.get("std"),
                     "image_interpolation": pp.get("interpolation"), "image_resize_mode": pp.get("resize_mode")}
        if spec.layout == "local-dir":
            name, pretrained = "local-dir:" + str(self.weights), None
            hf_text = local_config(self.weights, spec.name)
            if hf_text is not None:
                # a Hugging Face text tower (BiomedCLIP): open_clip would look its transformer up on the
                # hub by name; registered with local folders instead, it loads offline
                name = _register_inline_config(open_clip, dataclasses.replace(spec, model_cfg=hf_text["model_cfg"]))
                pretrained = str(file)
                overrides = {**hf_text["preprocess_overrides"], **{k: v for k, v in overrides.items() if v is not None}}
            else:
                _check_open_clip_picks(open_clip, spec, Path(self.weights))
        else:
            name, pretrained = spec.architecture or _register_inline_config(open_clip, spec), str(file)
        try:
            model, _, transform = open_clip.create_model_and_transforms(
                name, pretrained=pretrained, device=self.device, precision="fp32",
                weights_only=True, **{k: v for k, v in overrides.items() if v is not None})
            tokenizer = open_clip.get_tokenizer(name)
            config = open_clip.get_model_config(name)
        except Exception as e:
            # open_clip, torch and safetensors raise many unrelated types for an unusable file
            # (SafetensorError, RuntimeError on mismatched keys, UnpicklingError, ...); all of
            # them mean the same thing to the user.
            raise ModelLoadError(spec.name, file, f"{type(e).__name__}: {e}") from e
        cfg = dict(model.visual.preprocess_cfg)
        size = cfg["size"]
        side = max(size) if isinstance(size, (tuple, list)) else size
        if pp.get("image_size") not in (None, side):
            raise ModelLoadError(spec.name, file, f"the registry entry says image_size {pp['image_size']} but "
                                                  f"the model takes {side} px images; fix 'preprocess'")
        model.eval()
        if self.device == "cpu":
            torch.set_num_threads(available_cores())
        self._model, self._transform, self._tokenizer = model, transform, tokenizer
        self.dim = int(config["embed_dim"])
        self.preprocess_cfg = cfg
        self._min_side = side
        if self.precision == "bf16":
            self._to_bf16(file)
        # a convolutional tower (ResNet) runs ~1.6x faster on oneDNN with channels-last tensors; same numbers
        self._memory_format = torch.channels_last if _convolutional(self._model.visual) else torch.contiguous_format
        self._model.visual.to(memory_format=self._memory_format)
        if self._auto_batch:
            self.batch_size = auto_batch_size(side)
        self.cache_key = f"{self.name}|{self.weights_sha256}|{preprocess_summary(cfg)}|{self.precision}"

    def _to_bf16(self, file: Path) -> None:
        """Cast the model to bfloat16 if its embeddings stay within MIN_COSINE of fp32 on probe images.

        The agreement is measured once per weights, preprocessing, torch version and device, and
        remembered in the cache folder (BF16_MEMO).
        """
        key = f"{self.weights_sha256}|{preprocess_summary(self.preprocess_cfg)}|torch {torch.__version__}|{self.device}"
        cosine = read_memo(BF16_MEMO).get(key)
        if isinstance(cosine, float):
            self._model.to(torch.bfloat16)
        else:
            cosine = self._measure_bf16_cosine()
            remember(BF16_MEMO, key, cosine)
        self.bf16_cosine = cosine
        if cosine < MIN_COSINE and self.requested_precision == "auto":
            # this model loses too much in bf16: load it again in full precision
            self.precision = "fp32"
            self._model = None
            self._load()
        elif cosine < MIN_COSINE:
            raise ModelLoadError(self.name, file, f"its bf16 embeddings agree with fp32 only to cosine "
                                                  f"{cosine:.4f} (< {MIN_COSINE}); use precision fp32")

    def _measure_bf16_cosine(self) -> float:
        """Embed probe scenes and phrases in fp32, cast the model to bf16, embed again; the worst cosine."""
        rng = np.random.default_rng(0)
        probes = [render(sample_scene(SetSpec(image_size=self._min_side), rng)) for _ in range(8)]
        pixels = torch.stack([self._transform(im) for im in probes]).to(self.device)
        tokens = self._tokenizer(["a photo", "small rectangles", "a red object on a striped background"])
        tokens = tokens.to(self.device)
        with torch.inference_mode():
            reference = [self._model.encode_image(pixels).float(), encode_text_trimmed(self._model, tokens).float()]
        self._model.to(torch.bfloat16)  # outside inference mode: its weights stay usable with autograd (heat maps)
        with torch.inference_mode():
            low = [self._model.encode_image(pixels.to(torch.bfloat16)).float(),
                   encode_text_trimmed(self._model, tokens).float()]
        return min(float(torch.nn.functional.cosine_similarity(r, x, dim=-1).min()) for r, x in zip(reference, low))

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.precision]

    def _input(self, pixels: torch.Tensor) -> torch.Tensor:
        """A batch of pixels on the model's device, in its number format and memory layout."""
        return pixels.to(self.device, self.dtype).contiguous(memory_format=self._memory_format)

    def _ensure_loaded(self) -> torch.nn.Module:
        if self._model is None:
            self._load()
        return self._model

    def close(self) -> None:
        """Free the model; the next call to embed or embed_text loads it again."""
        self._model = self._transform = self._tokenizer = None

    def __enter__(self) -> "OpenClipEmbedder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpenClipEmbedder({self.name!r}, weights='{self.weights}', device={self.device!r})"

    # --- embedding -------------------------------------------------------------------------

    def _unit_rows(self, features: torch.Tensor) -> np.ndarray:
        features = torch.nn.functional.normalize(features.float(), dim=-1)
        return features.cpu().numpy().astype(np.float32, copy=False)

    def _pixels(self, record: ImageRecord, transform) -> torch.Tensor:
        # open_image may decode smaller (JPEG draft) but keeps both sides >= max_side
        with open_image(record, max_side=self._min_side) as image:
            return apply_transform(transform, image)

    def _batches(self, images: Sequence[ImageRecord], transform):
        """Pixel batches in order, decoded on background threads up to PREFETCH batches ahead.

        Each batch is cut into chunks of DECODE_CHUNK images, decoded by a pool of one thread per
        core (PIL releases the GIL while it decodes and resizes), so that the first batch, which
        nothing overlaps, is ready sooner and small models are not held up by decoding. Only
        PREFETCH + 1 batches of pixels exist at any time, whatever the number of images.
        """
        starts = list(range(0, len(images), self.batch_size))

        def decode(chunk: Sequence[ImageRecord]) -> list[torch.Tensor]:
            return [self._pixels(record, transform) for record in chunk]

        pool = ThreadPoolExecutor(max_workers=available_cores(), thread_name_prefix="spotdiff-decode")

        def submit(start: int) -> list:
            stop = min(start + self.batch_size, len(images))
            return [pool.submit(decode, images[i:min(i + DECODE_CHUNK, stop)])
                    for i in range(start, stop, DECODE_CHUNK)]

        pending = [submit(s) for s in starts[:PREFETCH]]
        try:
            for i, start in enumerate(starts):
                chunks = pending.pop(0)
                if i + PREFETCH < len(starts):
                    pending.append(submit(starts[i + PREFETCH]))
                yield start, torch.stack([pixels for future in chunks for pixels in future.result()])
        finally:
            for future in (f for chunks in pending for f in chunks):
                future.cancel()
            pool.shutdown(wait=True)

    def embed(self, images: Sequence[ImageRecord]) -> Work[np.ndarray]:
        """Yield Progress before the first batch and after each; return ndarray of shape
        (len(images), dim), float32, rows of unit norm."""
        model = self._ensure_loaded()
        transform = self._transform  # held here so that close() between batches cannot pull it away
        total = len(images)
        out = np.empty((total, self.dim), dtype=np.float32)
        yield Progress("embed", 0, total, self.name)
        batches = self._batches(images, transform)
        try:
            for start, pixels in batches:
                with torch.inference_mode():
                    features = model.encode_image(self._input(pixels))
                out[start:start + len(pixels)] = self._unit_rows(features)
                done = start + len(pixels)
                yield Progress("embed", done, total, f"{self.name}: {done}/{total} images")
        finally:
            batches.close()
        return out

    def embed_patches(self, images: Sequence[ImageRecord], directions: np.ndarray | None = None
                      ) -> Work[np.ndarray]:
        """Yield Progress per batch; return ndarray of shape (len(images), gh, gw, dim), float32: a vector
        per cell of a grid over the model's input, in the joint space, such that ``tokens @ v`` maps where
        ``v`` lies (spotdiff.models.embedders.patch_tokens: the value path of a vision transformer's last block,
        gradient x activation in a ResNet). InvalidParameterError for a tower of neither kind.

        directions : ndarray of shape (k, dim): return ``tokens @ directions.T`` instead, shape
            (len(images), gh, gw, k) (a ResNet then needs k backward passes instead of dim)
        """
        model = self._ensure_loaded()
        visual, transform = model.visual, self._transform
        tokens_of = token_function(visual, self.name)
        rows = None if directions is None else torch.as_tensor(np.asarray(directions, dtype=np.float32),
                                                                device=self.device)
        total, parts = len(images), []
        yield Progress("embed patches", 0, total, self.name)
        for start in range(0, total, self.batch_size):
            batch = images[start:start + self.batch_size]
            pixels = self._input(torch.stack([self._pixels(record, transform) for record in batch]))
            parts.append(tokens_of(visual, pixels, rows).float().cpu().numpy())
            yield Progress("embed patches", start + len(batch), total, self.name)
        width = self.dim if rows is None else len(rows)
        return np.concatenate(parts) if parts else np.zeros((0, 0, 0, width), dtype=np.float32)

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """Return ndarray of shape (len(texts), dim), float32, rows of unit norm.

        Texts are encoded shortest first, each batch cut to its longest text (see :func:`encode_text_trimmed`):
        a concept phrase is ~8 of the 77 token positions, so the text tower does ~10x less work.
        """
        if isinstance(texts, str):
            raise InvalidParameterError("texts", texts, "a sequence of strings, not one string")
        model = self._ensure_loaded()
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        tokens = self._tokenizer(texts)
        order = torch.argsort((tokens != 0).sum(dim=1), stable=True)
        for start in range(0, len(texts), TEXT_BATCH):
            rows = order[start:start + TEXT_BATCH]
            with torch.inference_mode():
                features = encode_text_trimmed(model, tokens[rows].to(self.device))
            out[rows.numpy()] = self._unit_rows(features)
        return out


@lru_cache(maxsize=8)
def _split_transform(transform) -> tuple[Any, np.ndarray, np.ndarray] | None:
    """open_clip's image transform as (its steps before ToTensor, mean, std as float32 arrays of shape (c, 1, 1))
    where it ends in ToTensor and Normalize, as open_clip's inference transforms do; None for any other."""
    open_clip = import_open_clip()
    steps = getattr(transform, "transforms", None)
    if not isinstance(steps, list) or len(steps) < 2 or torch.get_default_dtype() != torch.float32:
        return None
    to_tensor, normalize = steps[-2:]
    if not (isinstance(to_tensor, open_clip.transform.ToTensor) and isinstance(normalize, open_clip.transform.Normalize)):
        return None
    mean, std = (torch.as_tensor(v, dtype=torch.float32).numpy().reshape(-1, 1, 1) for v in (normalize.mean, normalize.std))
    if (std == 0).any():
        return None  # Normalize's own error says what is wrong
    return open_clip.transform.Compose(steps[:-2]), mean, std


def apply_transform(transform, image) -> torch.Tensor:
    """``transform(image)``, bit for bit, with cheaper arithmetic where the transform ends in ToTensor and
    Normalize and the image is 8-bit RGB by then.

    ToTensor and Normalize become numpy float32 operations in the same order ((x / 255 - mean) / std):
    numpy runs them on the calling thread, whereas torch would start a team of OpenMP threads for each
    large image in every decoding thread, to compete with the encoder's own.
    """
    split = _split_transform(transform)
    if split is None:
        return transform(image)
    steps, mean, std = split
    image = steps(image)
    if getattr(image, "mode", None) != "RGB" or mean.shape[0] != 3:
        return transform.transforms[-1](transform.transforms[-2](image))
    # channels first while still bytes (the cheap copy), then float32 in place
    pixels = np.ascontiguousarray(np.asarray(image).transpose(2, 0, 1)).astype(np.float32)
    pixels /= np.float32(255)
    pixels -= mean
    pixels /= std
    return torch.from_numpy(pixels)


def encode_text_trimmed(model, tokens: torch.Tensor) -> torch.Tensor:
    """``model.encode_text(tokens)``, computed over only the positions up to each row's pooled token.

    Exact for open_clip's CLIP class with a causal text mask and end-of-text pooling: no position
    attends to a later one, so the padding after the pooled token cannot change it. Any other text
    tower (BERT, SigLIP's last-token pooling, CoCa) runs untouched.
    """
    open_clip = import_open_clip()
    CLIP, text_global_pool = open_clip.model.CLIP, open_clip.transformer.text_global_pool
    pool = getattr(model, "text_pool_type", None)
    eos = getattr(model, "text_eos_id", None)
    if type(model) is not CLIP or getattr(model, "attn_mask", None) is None or pool not in ("argmax", "eos") \
            or (pool == "eos" and eos is None):
        return model.encode_text(tokens)
    ends = tokens.argmax(dim=-1) if pool == "argmax" else (tokens == eos).int().argmax(dim=-1)
    length = int(ends.max()) + 1
    tokens = tokens[:, :length]
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast) + model.positional_embedding[:length].to(cast)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = text_global_pool(model.ln_final(x), tokens, pool, eos_token_id=eos)
    projection = model.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection
