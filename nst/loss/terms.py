"""Loss terms: Gram matrices (plain, shifted, masked, cross-layer), content, style, variation.

Conventions (all per layer, independent of image size so weights carry over between sizes):

* Gram matrix ``G = F^T F / M`` over the M spatial positions of the (shifted) activations F (M x C);
  with a soft mask m the positions are weighted: ``G = F^T diag(m) F / sum(m)``.
* style loss of a layer: ``mean((G - A)^2)``, A the style image's Gram matrix. This equals
  4x Gatys et al.'s E_l (their 1 / (4 N^2 M^2) with unnormalised Gram matrices).
* content loss of a layer: ``mean((F - P)^2)`` (optionally weighted per position).
* total variation: mean squared difference of neighbouring pixels, in 8-bit pixel units.

With ``batched=True`` the Gram matrices are taken per image: (B, H, W, C) -> (B, C, C), and a
loss against one target matrix averages over the batch (feed-forward training). Without it all
positions of the input count as one image, as the optimisation of a single image wants.
"""

from __future__ import annotations

import tensorflow as tf


def flatten(features, batched: bool = False):
    """(1, H, W, C) or (H, W, C) -> (H*W, C); batched: (B, H, W, C) -> (B, H*W, C), in float32.

    Statistics are float32 whatever the network's precision: VGG activations reach several
    hundred, and their products overflow float16 (65504), which made every mixed_float16 style
    loss NaN.
    """
    features = tf.cast(features, tf.float32)
    c = tf.shape(features)[-1]
    if batched:
        return tf.reshape(features, (tf.shape(features)[0], -1, c))
    return tf.reshape(features, (-1, c))


def gram_matrix(features, shift: float = 0.0, mask=None, *, batched: bool = False):
    """Gram matrix of ``features + shift`` averaged over positions (weighted by ``mask``)."""
    if mask is not None:
        return cross_gram(features, features, shift, mask, batched=batched)
    a = flatten(features, batched)
    return _self_gram(a + shift if shift else a)


@tf.custom_gradient
def _self_gram(a):
    """``a^T a / n`` over the positions of (..., n, C) ``a``, with a one-product gradient.

    Differentiating the product of ``a`` with itself term by term costs two (n x C) x (C x C)
    products; ``d/da = a (dG + dG^T) / n`` is one, which takes a third off the Gram matrices'
    share of a training step (the style layers' Gram matrices are most of its loss).
    """
    n = tf.cast(tf.shape(a)[-2], a.dtype)

    def grad(dg):  # scaling the (C x C) factor, not the (n x C) product
        return tf.matmul(a, (dg + tf.linalg.matrix_transpose(dg)) / n)

    return tf.matmul(a, a, transpose_a=True) / n, grad


def match_resolution(shallow, deep, pooling: str = "avg"):
    """Pool the shallower layer's activations down to the deeper layer's spatial size."""
    pool = tf.nn.avg_pool2d if pooling == "avg" else tf.nn.max_pool2d
    while shallow.shape[1] > deep.shape[1]:
        shallow = pool(shallow, 2, 2, "VALID")
    return shallow


def cross_gram(shallow, deep, shift: float = 0.0, mask=None, *, batched: bool = False):
    """Correlations between the channels of two adjacent layers at the deeper one's resolution.

    ``mask`` is one (h, w) map of the deeper layer's grid, shared by every image of a batch.
    """
    a, b = flatten(shallow, batched), flatten(deep, batched)
    if shift:
        a, b = a + shift, b + shift
    if mask is None:
        n = tf.cast(tf.shape(a)[-2], a.dtype)
        return tf.matmul(a, b, transpose_a=True) / n
    m = tf.reshape(tf.cast(mask, a.dtype), (-1, 1))  # broadcasts over a batch axis
    return tf.matmul(a * m, b, transpose_a=True) / tf.maximum(tf.reduce_sum(m), 1e-8)


def squared_error(a, b):
    return tf.reduce_mean(tf.square(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)))


def content_loss(features, target, weight_map=None):
    diff = tf.square(tf.cast(features, tf.float32) - tf.cast(target, tf.float32))
    if weight_map is None:
        return tf.reduce_mean(diff)
    w = tf.cast(weight_map, tf.float32)
    return tf.reduce_mean(diff * w[..., None]) / tf.maximum(tf.reduce_mean(w), 1e-8)


@tf.custom_gradient
def total_variation(image):
    """Mean squared difference between horizontally and vertically adjacent pixels.

    The gradient is the differences padded back to the image's shape: differentiating the
    slices went through StridedSliceGrad, whose column case costs more than the whole loss.
    """
    dy = image[:, 1:, :, :] - image[:, :-1, :, :]
    dx = image[:, :, 1:, :] - image[:, :, :-1, :]

    def grad(upstream):
        up = 2 * tf.cast(upstream, tf.float32)
        gy = dy * tf.cast(up / tf.cast(tf.size(dy), tf.float32), dy.dtype)
        gx = dx * tf.cast(up / tf.cast(tf.size(dx), tf.float32), dx.dtype)
        none = [0, 0]
        return (
            tf.pad(gy, [none, [1, 0], none, none])  # pixel r is the later one of pair r - 1
            - tf.pad(gy, [none, [0, 1], none, none])  # and the earlier one of pair r
            + tf.pad(gx, [none, none, [1, 0], none])
            - tf.pad(gx, [none, none, [0, 1], none])
        )

    return tf.reduce_mean(tf.square(dy)) + tf.reduce_mean(tf.square(dx)), grad
