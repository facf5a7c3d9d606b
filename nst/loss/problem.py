"""One run's problem, built from its settings in one place: the layers and style terms the
method reads, the blend weights of its styles, the masks and the colour-preserving view of the
images at an output shape, and the :class:`~nst.loss.objective.Objective` there.

The optimisation (every scale of :func:`nst.engine.transfer`), the rating of a fast network's
output (:func:`nst.engine.evaluate_loss`) and feed-forward training take their layers from here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence

import numpy as np

from nst.errors import SettingsError
from nst.images import color, masks
from nst.loss.methods import LossLayers
from nst.loss.objective import Objective


def blend_weights(settings, n_styles: int) -> list[float]:
    """Each style's share of the style term (the settings' blend weights, summing to 1)."""
    if n_styles < 1:
        raise SettingsError("give at least one style image.")
    blend = settings.style_blend_weights or (1.0,) * n_styles
    if len(blend) != n_styles:
        raise SettingsError(
            f"{len(blend)} style-blend-weights for {n_styles} style images; give one per style."
        )
    return [b / sum(blend) for b in blend]


def check_style_masks(settings, n_styles: int) -> None:
    if settings.style_masks is not None and len(settings.style_masks) != n_styles:
        raise SettingsError(
            f"{len(settings.style_masks)} style masks for {n_styles} style images; give one "
            "mask per style."
        )


class TransferProblem:
    """A content image, its styles and the settings: validated once, then the objective at any
    output shape (a multi-scale run asks for one per scale)."""

    def __init__(self, settings, content: np.ndarray, styles: Sequence[np.ndarray]):
        self.settings = settings
        self.content = content
        self.styles = list(styles)
        self.blend = blend_weights(settings, len(self.styles))
        check_style_masks(settings, len(self.styles))
        self.layers = LossLayers.of(settings)

    def objective(
        self,
        extractor,
        shape: tuple[int, int],
        full_shape: tuple[int, int] | None = None,
        *,
        log: Callable[[str], None] | None = None,
        extra_terms: dict | None = None,
        tile: int | None = None,
    ):
        """(objective, view) at output ``shape``: ``view`` holds the images as the network sees
        them (colour preservation applied) and turns the optimised variable into the output.
        Masks are fitted to ``shape``; their warnings go to ``log`` at the full size only.
        ``tile``: a :class:`~nst.loss.tiled.TiledObjective` evaluated in tiles of that many
        pixels (the same values and gradient, in the memory of a tile).

        An objective built before for the same network, settings, styles, shape and extra terms
        is given this content (:meth:`Objective.set_content`) instead of being built and traced
        again: a video's frames, or any run per image of one size, pay for that once. It is
        valid until the next call for the same key."""
        style_masks, weight_map = masks.masks_for(
            self.settings, len(self.styles), shape, full_shape or shape, log
        )
        view = color.prepare_problem(self.settings, self.content, self.styles, shape)
        if tile is not None:  # evaluated tile by tile (an image too large for the memory)
            from nst.loss.tiled import TiledObjective

            objective = TiledObjective(
                extractor,
                self.settings,
                view.content,
                view.styles,
                self.blend,
                tile=tile,
                layers=self.layers,
                style_masks=style_masks,
                content_weight_map=weight_map,
                to_network=view.to_network,
                extra_terms=extra_terms,
            )
            return objective, view
        key = self._key(extractor, shape, view, extra_terms)
        objective = OBJECTIVES.pop(key, None)
        if objective is not None:
            objective.set_content(view.content)
        else:
            objective = Objective(
                extractor,
                self.settings,
                view.content,
                view.styles,
                self.blend,
                layers=self.layers,
                style_masks=style_masks,
                content_weight_map=weight_map,
                to_network=view.to_network,
                extra_terms=extra_terms,
            )
        OBJECTIVES[key] = objective  # the most recently used last
        while len(OBJECTIVES) > OBJECTIVES_KEPT:
            OBJECTIVES.pop(next(iter(OBJECTIVES)))
        return objective, view

    def _key(self, extractor, shape, view, extra_terms) -> tuple:
        """What an objective depends on besides its content: the network (the extractor object),
        the loss settings, the styles as the network sees them, the shape, the extra terms."""
        loss = {k: v for k, v in self.settings.to_dict().items() if k not in OPTIMISATION_ONLY}
        styles = hashlib.sha256()
        for style in view.styles:
            styles.update(str(style.shape).encode())
            styles.update(np.ascontiguousarray(style, np.float32).tobytes())
        extra = tuple(
            (name, float(weight), id(fn)) for name, (weight, fn) in (extra_terms or {}).items()
        )
        return (
            extractor,
            json.dumps(loss, sort_keys=True, default=str),
            styles.hexdigest(),
            tuple(self.blend),
            tuple(shape),
            view.content.shape[2],
            extra,
        )


# Objectives built lately, by what they depend on besides the content (see
# TransferProblem.objective); a few, each holds its styles' targets and a traced gradient.
OBJECTIVES: dict = {}
OBJECTIVES_KEPT = 4
# settings that steer the optimisation but not the objective
OPTIMISATION_ONLY = frozenset(
    {
        "size",
        "scales",
        "iterations",
        "coarse_iterations",
        "init",
        "seed",
        "optimizer",
        "learning_rate",
        "min_improvement",
        "save_every",
        "print_every",
        "threads",
        "tile",
        "max_memory",
    }
)
