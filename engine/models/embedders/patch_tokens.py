"""Per-patch vectors of a CLIP vision tower, in the joint space, for spotdiff.analysis.heatmap.

A map of where a vector ``v`` lies in an image is ``tokens @ v``: tokens of shape (n, gh, gw, dim),
one per cell of a grid over the model's input. Two towers, two kinds of token:

* **Vision transformers**: the value path of the last block (MaskCLIP, Zhou et al. 2022): each patch's
  own token entering that block, through its value and output projections, the final norm and the
  image projection, scaled to unit length. The block's full output is no good here: its attention mixes
  every patch with the whole image (on the toy world, maps made from it peak within one patch of planted
  rectangles about as often as chance, 24 % against 21 %).
* **ResNets** (open_clip's ``ModifiedResNet``): gradient x activation at the output of ``layer2`` (1/8
  of the input's side): token[h, w, k] = sum over channels of d(unit image vector)_k / d(activation) x
  activation. It is linear in ``v``, so ``tokens @ v`` is the gradient x activation map of the image's
  score ``v . image vector`` (Shrikumar et al. 2017; Grad-CAM's gradient without its channel pooling),
  and each cell says how much its features add to that score. The last stage's own grid (1/32 of the
  side, 2 x 2 at 64 px) is too coarse to say where a small thing is.
"""

from __future__ import annotations

from typing import Callable

import torch

from ...errors import InvalidParameterError

TokenFn = Callable[[torch.nn.Module, torch.Tensor, "torch.Tensor | None"], torch.Tensor]
ATTRIBUTION_BATCH = 8  # images per batched backward pass: the gradients take k x images x activations


def token_function(visual: torch.nn.Module, name: str) -> TokenFn:
    """The token function that suits ``visual``; InvalidParameterError for a tower with neither kind."""
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", ())
    attn = getattr(blocks[-1], "attn", None) if len(blocks) >= 2 else None
    if isinstance(attn, torch.nn.MultiheadAttention) and getattr(visual, "attn_pool", None) is None \
            and getattr(visual, "proj", None) is not None and hasattr(visual, "forward_intermediates"):
        return vit_value_tokens
    if all(hasattr(visual, part) for part in ("stem", "layer1", "layer2", "layer3", "layer4", "attnpool")):
        return resnet_attribution_tokens
    raise InvalidParameterError("model", name, "a CLIP vision transformer of open_clip's standard blocks or "
                                f"open_clip's ModifiedResNet (its {type(visual).__name__} gives no per-patch vectors)")


def vit_value_tokens(visual: torch.nn.Module, pixels: torch.Tensor, directions: torch.Tensor | None = None
                     ) -> torch.Tensor:
    """(n, gh, gw, dim) unit tokens; with ``directions`` (k, dim), their scores along each, (n, gh, gw, k)."""
    blocks = visual.transformer.resblocks
    last = blocks[-1]
    attn, width = last.attn, last.attn.embed_dim
    with torch.inference_mode():
        x = visual.forward_intermediates(pixels, indices=[len(blocks) - 2], stop_early=True,
                                         intermediates_only=True)["image_intermediates"][0]
        x = last.ln_1(x.permute(0, 2, 3, 1))  # (n, gh, gw, width): patch tokens entering the last block
        values = torch.nn.functional.linear(x, attn.in_proj_weight[2 * width:], attn.in_proj_bias[2 * width:])
        tokens = visual.ln_post(last.ls_1(attn.out_proj(values))) @ visual.proj
        tokens = torch.nn.functional.normalize(tokens.float(), dim=-1)
        return tokens if directions is None else tokens @ directions.float().T


def resnet_attribution_tokens(visual: torch.nn.Module, pixels: torch.Tensor, directions: torch.Tensor | None = None
                              ) -> torch.Tensor:
    """(n, gh, gw, dim) tokens; with ``directions`` (k, dim), the maps along each, (n, gh, gw, k): one
    backward pass per direction instead of one per dimension (a comparison maps a few directions)."""
    parts = []
    for start in range(0, len(pixels), ATTRIBUTION_BATCH):
        with torch.inference_mode(False), torch.enable_grad():
            x = pixels[start:start + ATTRIBUTION_BATCH].clone()
            with torch.no_grad():
                a = visual.layer2(visual.layer1(visual.stem(x)))
            a.requires_grad_(True)
            z = visual.attnpool(visual.layer4(visual.layer3(a)))
            z = torch.nn.functional.normalize(z.float(), dim=-1)  # (n, dim)
            n, dim = z.shape
            rows = torch.eye(dim, dtype=z.dtype, device=z.device) if directions is None else \
                directions.to(z.device, z.dtype)
            (grads,) = torch.autograd.grad(z, a, grad_outputs=rows[:, None, :].expand(len(rows), n, dim),
                                           is_grads_batched=True)  # (k, n, C, gh, gw)
            tokens = (grads.float() * a.detach().float()[None]).sum(dim=2)  # (k, n, gh, gw)
        parts.append(tokens.permute(1, 2, 3, 0).detach())
    return torch.cat(parts)
