"""The temporal term of training a network on video (Huang et al. 2017, "Real-time neural style
transfer for videos"; Gao et al. 2018, ReCoNet): the network's output for a frame should be its
output for the previous frame moved along the flow, where the flow is reliable.

``temporal = mean(c ⊙ (N(x_t) − warp(N(x_{t−1}), flow_{t→t−1}))²) / var(x_t)``

with ``c`` Ruder et al.'s consistency weights of the input frames. Dividing by the frame's own
pixel variance makes the term 1 when the output departs from its warped predecessor as much as
the frame's pixels depart from their mean, as the optimised video's temporal loss
(:class:`nst.video.temporal.TemporalLoss`) does; the weight means the same for every clip.

The pairs come from :class:`nst.video.pairs.FramePairs` (any object whose ``batch(step)``
returns ``(previous, current, flow, weights)`` arrays of shapes (P, S, S, 3), (P, S, S, 3),
(P, S, S, 2) and (P, S, S, 1) does).
"""

from __future__ import annotations


def warp_tensor(image, flow):
    """``image`` (B, H, W, C) sampled at x + flow(x), bilinear, edges repeated: the TensorFlow
    twin of :func:`nst.video.flow.warp` (differentiable in the image)."""
    import tensorflow as tf

    shape = tf.shape(image)
    h, w = shape[1], shape[2]
    gy, gx = tf.meshgrid(
        tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32), indexing="ij"
    )
    x = tf.clip_by_value(gx[None] + flow[..., 0], 0.0, tf.cast(w - 1, tf.float32))
    y = tf.clip_by_value(gy[None] + flow[..., 1], 0.0, tf.cast(h - 1, tf.float32))
    x0, y0 = tf.floor(x), tf.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0i, y0i = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    x1i, y1i = tf.minimum(x0i + 1, w - 1), tf.minimum(y0i + 1, h - 1)

    def at(yi, xi):
        return tf.gather_nd(image, tf.stack([yi, xi], axis=-1), batch_dims=1)

    top = at(y0i, x0i) * (1 - fx) + at(y0i, x1i) * fx
    bottom = at(y1i, x0i) * (1 - fx) + at(y1i, x1i) * fx
    return top * (1 - fy) + bottom * fy


def temporal_term(previous_out, current_out, current_in, flow, weights):
    """The mean over pairs of ``mean(c ⊙ (out_t − warp(out_{t−1}))²) / var(in_t)``."""
    import tensorflow as tf

    warped = warp_tensor(tf.cast(previous_out, tf.float32), flow)
    diff = tf.square(tf.cast(current_out, tf.float32) - warped) * weights
    variance = tf.maximum(tf.math.reduce_variance(current_in, axis=(1, 2, 3)), 1.0)
    return tf.reduce_mean(tf.reduce_mean(diff, axis=(1, 2, 3)) / variance)


def make_temporal_step(
    model, objective, optimizer, batch_shape, pair_shape, temporal_weight: float
):
    """One traced Adam step on a batch of contents and pairs of frames: the engine's loss on
    the contents and both frames of every pair, plus ``temporal_weight`` times the temporal
    term of the pairs (reported as ``temporal``)."""
    import keras
    import tensorflow as tf

    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    p, s = pair_shape[0], pair_shape[1]
    specs = [
        tf.TensorSpec(batch_shape, tf.float32),
        tf.TensorSpec(pair_shape, tf.float32),
        tf.TensorSpec(pair_shape, tf.float32),
        tf.TensorSpec((p, s, s, 2), tf.float32),
        tf.TensorSpec((p, s, s, 1), tf.float32),
    ]

    @tf.function(input_signature=specs, autograph=False)
    def step_fn(batch, previous, current, flow, weights):
        inputs = tf.concat([batch, previous, current], axis=0)
        with tf.GradientTape() as tape:
            outputs = model(inputs, training=True)
            values = dict(objective(outputs, inputs))
            n = batch_shape[0]
            temporal = temporal_term(outputs[n : n + p], outputs[n + p :], current, flow, weights)
            values["temporal"] = temporal
            values["total"] = values["total"] + temporal_weight * temporal
            loss = optimizer.scale_loss(values["total"]) if scaled else values["total"]
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return values

    return step_fn
