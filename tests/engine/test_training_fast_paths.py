"""The training loop's shortcuts change nothing a user sees: batch hooks still fire with their
logs when a callback defines them, and a first layer that skips its input gradient trains
exactly as one that computes it."""
import numpy as np

from engine import Input, Model, Sequential, callbacks, layers, optimizers, set_random_seed


def _data(n=24):
    rng = np.random.default_rng(0)
    return rng.random((n, 5), dtype=np.float32), rng.integers(0, 3, n)


def _model():
    set_random_seed(3)
    model = Sequential([Input((5,)), layers.Dense(4, activation="relu"), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_lambda_callback_batch_hooks_get_running_logs():
    x, y = _data()
    seen = []
    cb = callbacks.LambdaCallback(on_batch_end=lambda batch, logs: seen.append((batch, sorted(logs))))
    _model().fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[cb])
    assert seen == [(b, ["accuracy", "loss"]) for b in (0, 1, 2)] * 2


def test_subclassed_callback_hooks_fire_for_train_test_and_predict():
    class Recorder(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

        def on_train_batch_begin(self, batch, logs=None):
            self.calls.append(("train_begin", batch))

        def on_test_batch_end(self, batch, logs=None):
            self.calls.append(("test_end", batch, isinstance(logs["loss"], float)))

        def on_predict_batch_end(self, batch, logs=None):
            self.calls.append(("predict_end", batch, logs["outputs"][0].shape))

    x, y = _data()
    model = _model()
    rec = Recorder()
    model.fit(x, y, batch_size=12, epochs=1, verbose=0, callbacks=[rec])
    model.evaluate(x, y, batch_size=12, verbose=0, callbacks=[rec])
    model.predict(x, batch_size=12, verbose=0, callbacks=[rec])
    assert rec.calls == [("train_begin", 0), ("train_begin", 1), ("test_end", 0, True), ("test_end", 1, True),
                         ("predict_end", 0, (12, 3)), ("predict_end", 1, (12, 3))]


def _functional(merge_input):
    set_random_seed(3)
    inp = Input((5,))
    h = layers.Dense(4, activation="relu")(inp)
    if merge_input:
        # The input also feeds a merge layer, which still computes its input gradient.
        h = layers.Concatenate()([h, inp])
    out = layers.Dense(3, activation="softmax")(h)
    model = Model(inp, out)
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy")
    return model


def _train_computing_input_gradients(model, x, y, batch_size, epochs):
    """The training step by hand, with every layer computing its input gradient."""
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            outs, masks, bp = model.run_graph([xb], training=True, need_input_grads=True)
            _, _, d_preds = model._compiled_loss.compute([yb], outs, None, masks)
            assert bp(d_preds)[0].shape == xb.shape
            model.optimizer.apply(model.trainable_weights)
            for v in model.weights:
                v.grad = None


def test_layers_fed_by_the_inputs_skip_their_input_gradient_and_train_the_same_weights():
    x, y = _data()
    for merge_input in (False, True):
        fitted = _functional(merge_input)
        fitted.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
        by_hand = _functional(merge_input)
        _train_computing_input_gradients(by_hand, x, y, batch_size=8, epochs=2)
        for a, b in zip(fitted.get_weights(), by_hand.get_weights()):
            np.testing.assert_array_equal(a, b)
        outs, masks, bp = fitted.run_graph([x[:8]], training=True, need_input_grads=False)
        _, _, d_preds = fitted._compiled_loss.compute([y[:8]], outs, None, masks)
        assert bp(d_preds) == [None]
