"""Training end to end on toy frames: drawn ellipses on a textured belt."""

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from fishseg.config import from_dict
from fishseg.model.bundle import FishsegModel
from fishseg.model.fit import TrainingError
from fishseg.train import split_frames, train_on_samples, training_summary

TINY = {"model": {"features": [4, 8, 16], "code_dim": 4, "processing_width": 64},
        "train": {"steps": 30, "batch_size": 32, "eval_every": 10, "warmup_steps": 3,
                  "learning_rate": 3e-3, "patches_per_image": 200},
        "dictionary": {"size": 64, "samples": 600, "kmeans_iters": 5}}


def toy_samples(n, h=48, w=64, seed=0):
    """Frames with 1-3 bright ellipses (fish) on a noisy grey belt; labels known."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = cv2.GaussianBlur(rng.normal(90, 15, (h, w, 3)).clip(0, 255).astype(np.uint8), (3, 3), 0)
        lab = np.zeros((h, w), np.int32)
        for k in range(1, int(rng.integers(2, 4)) + 1):
            c = (int(rng.integers(10, w - 10)), int(rng.integers(10, h - 10)))
            ax = (int(rng.integers(6, 14)), int(rng.integers(3, 7)))
            ang = float(rng.uniform(0, 180))
            cv2.ellipse(lab, c, ax, ang, 0, 360, k, -1)
            cv2.ellipse(img, c, ax, ang, 0, 360, tuple(int(v) for v in rng.integers(160, 230, 3)), -1)
        out.append(SimpleNamespace(name=f"toy{i}", image=img, labels=lab))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    cfg = from_dict(TINY)
    a = train_on_samples(toy_samples(4), cfg, d / "a.fishseg", progress=False)
    b = train_on_samples(toy_samples(4), cfg, d / "b.fishseg", progress=False)
    return a, b


def test_bundle_and_curve_written(trained):
    a, _ = trained
    assert a.is_file() and a.with_name("a.curve.png").is_file()
    m = FishsegModel.load(a)
    assert m.meta["val_frames"] and set(m.meta["val_scores"]) == {"fg_iou", "edge_f1"}
    fg, edge = m.predict_maps(toy_samples(1, seed=9)[0].image)
    assert fg.shape == edge.shape == (1, 48, 64)


def test_training_summary_says_what_the_bundle_holds(trained):
    """What ``fishseg train`` prints when done: frame counts, the best step, the
    validation scores and tuning as the bundle records them, and the curve's path."""
    a, _ = trained
    meta = FishsegModel.load(a).meta
    text = training_summary(meta, a)
    n_val = len(meta["val_frames"])
    assert f"trained on {len(meta['frames']) - n_val} frames, validated on {n_val}" in text
    assert f"best validation loss {meta['best_val_loss']:.3f} at step {meta['best_step']}" in text
    vs = meta["val_scores"]
    assert f"fg IoU {vs['fg_iou']:.3f}, edge F1 {vs['edge_f1']:.3f}" in text
    t = meta["separation_tuning"]
    assert (f"AP@0.5 {t['before']['ap50']:.3f} -> {t['after']['ap50']:.3f}" in text)
    assert text.splitlines()[-1] == f"training curve: {a.with_name('a.curve.png')}"
    skipped = {**meta, "separation_tuning": {"skipped": "2 fish"}, "resumed_after_steps": [7]}
    text = training_summary(skipped, a)
    assert "separation not re-tuned: 2 fish" in text and "resumed after step 7" in text


def test_same_seed_same_model(trained):
    a, b = (FishsegModel.load(p) for p in trained)
    for k, v in a.arrays().items():
        np.testing.assert_array_equal(v, b.arrays()[k], err_msg=k)
    assert a.checksum == b.checksum and a.cfg == b.cfg


def test_separation_tuned_and_used_by_segment(trained):
    m = FishsegModel.load(trained[0])
    report = m.meta["separation_tuning"]
    assert report["after"]["ap50"] >= report["before"]["ap50"]
    assert report["separate"] == {k: (list(v) if isinstance(v, tuple) else v)
                                  for k, v in vars(m.cfg.separate).items()}
    sample = toy_samples(1, seed=9)[0]
    labels = m.segment(sample.image[None])
    assert labels.shape == (1, 48, 64) and labels.dtype == np.int32
    from fishseg.separate import separate
    fg, edge = m.predict_maps(sample.image[None])
    np.testing.assert_array_equal(labels, np.asarray(separate(fg, edge, m.cfg.separate)))


def test_loss_goes_down(trained):
    m = FishsegModel.load(trained[0])
    # the PCA codes have unit variance in their first component, so an untrained
    # network starts near sum(var) >= 1; training must get well below the start
    import json
    import zipfile
    with zipfile.ZipFile(trained[0]) as z:
        meta = json.loads(z.read("manifest.json"))["meta"]
    assert meta["best_val_loss"] < meta["first_train_loss"] * 0.8
    assert meta["final_train_loss"] < meta["first_train_loss"] * 0.8
    assert m.meta["best_step"] > 0


def test_nan_loss_stops_with_clear_message(tmp_path):
    cfg = from_dict({**TINY, "train": {**TINY["train"], "learning_rate": 1e30, "steps": 4, "warmup_steps": 0}})
    with pytest.raises(TrainingError, match=r"(loss is nan|loss is inf|diverged).*learning_rate"):
        train_on_samples(toy_samples(2), cfg, tmp_path / "nan.fishseg", progress=False)


def test_no_samples():
    with pytest.raises(TrainingError, match="no training frames"):
        train_on_samples([], from_dict(TINY), "unused.fishseg", progress=False)


def test_split_by_frame():
    tr, va = split_frames(10, 0.2, 0)
    assert len(va) == 2 and not set(tr) & set(va) and len(tr) + len(va) == 10
    tr, va = split_frames(1, 0.2, 0)
    np.testing.assert_array_equal(tr, va)
    assert list(split_frames(5, 0.2, 3)[1]) == list(split_frames(5, 0.2, 3)[1])


def test_training_with_edge_weighted_codes(tmp_path):
    cfg = from_dict({**TINY, "targets": {"edge_code_weight": 3.0}})
    path = train_on_samples(toy_samples(4), cfg, tmp_path / "w.fishseg", progress=False)
    m = FishsegModel.load(path)
    assert m.cfg.targets.edge_code_weight == 3.0
    w = m.pca["weight"].reshape(2, 256)
    assert (w[0] == 1.0).all() and (w[1] == 3.0).all()
    fg, edge = (np.asarray(a) for a in m.predict_maps(toy_samples(1, seed=9)[0].image[None]))
    assert fg.shape == edge.shape == (1, 48, 64) and 0 <= edge.min() and edge.max() <= 1


def test_training_with_a_contact_map(tmp_path):
    cfg = from_dict({**TINY, "targets": {"contact": True}})
    path = train_on_samples(toy_samples(4), cfg, tmp_path / "c.fishseg", progress=False)
    m = FishsegModel.load(path)
    assert m.channels == 3 and m.values.shape[1:] == (3, 16, 16) and m.cfg.targets.contact
    assert m.pca["components"].shape == (4, 3 * 256)
    sample = toy_samples(1, seed=9)[0]
    stack = np.asarray(m.predict_stack(sample.image[None]))
    assert stack.shape == (1, 3, 48, 64) and 0 <= stack.min() and stack.max() <= 1
    from fishseg.separate import separate
    fg, boundary = m.separation_maps(sample.image[None])
    assert np.array_equal(np.asarray(boundary), stack[:, 2])
    # segment() separates on the contact map, with the thresholds tuned on it
    np.testing.assert_array_equal(m.segment(sample.image[None]),
                                  np.asarray(separate(fg, boundary, m.cfg.separate)))


def _interrupt_at(monkeypatch, step, error=None):
    """Ctrl-C (a real SIGINT) or ``error`` raised during training step ``step``."""
    import signal

    from fishseg.model.fit import LossWatch

    update = LossWatch.update

    def patched(self, s, loss):
        if s == step:
            if error is None:
                signal.raise_signal(signal.SIGINT)
            else:
                raise error
        return update(self, s, loss)

    monkeypatch.setattr(LossWatch, "update", patched)


def test_an_interrupted_training_resumes_to_the_same_model(trained, tmp_path, monkeypatch,
                                                           capsys):
    """Ctrl-C saves the training's state at the end of the step under way; the same call
    then resumes there, says so (even with the bars off), and writes the weights an
    uninterrupted run writes."""
    from fishseg.model.resume import state_path

    out = tmp_path / "m.fishseg"
    _interrupt_at(monkeypatch, 12)
    with pytest.raises(KeyboardInterrupt, match=r"after step 12 of 30; its state is saved in "
                                                r".*m\.fishseg\.training\.npz: run the same"):
        train_on_samples(toy_samples(4), from_dict(TINY), out, progress=False)
    assert state_path(out).is_file() and not out.exists()
    monkeypatch.undo()
    capsys.readouterr()
    train_on_samples(toy_samples(4), from_dict(TINY), out, progress=False)
    assert f"resuming the training saved in {state_path(out)} after step 12" in capsys.readouterr().out
    got, ref = FishsegModel.load(out), FishsegModel.load(trained[0])
    assert got.meta["resumed_after_steps"] == [12] and not state_path(out).exists()
    for k, v in ref.arrays().items():
        np.testing.assert_array_equal(got.arrays()[k], v, err_msg=k)
    assert got.checksum == ref.checksum


def test_a_crashed_training_resumes_from_its_last_checkpoint(trained, tmp_path, monkeypatch):
    from fishseg.model.resume import state_path

    cfg = from_dict({**TINY, "train": {**TINY["train"], "checkpoint_minutes": 1e-9}})
    out = tmp_path / "m.fishseg"
    _interrupt_at(monkeypatch, 20, OSError("No space left on device"))
    with pytest.raises(OSError, match="No space left"):
        train_on_samples(toy_samples(4), cfg, out, progress=False)
    assert state_path(out).is_file() and not out.exists()
    monkeypatch.undo()
    train_on_samples(toy_samples(4), cfg, out, progress=False)
    got, ref = FishsegModel.load(out), FishsegModel.load(trained[0])
    assert got.meta["resumed_after_steps"] == [19]     # saved after every step here
    for k, v in ref.arrays().items():
        np.testing.assert_array_equal(got.arrays()[k], v, err_msg=k)


def test_a_foreign_or_damaged_training_state_is_not_resumed(trained, tmp_path, monkeypatch):
    from fishseg.model.resume import state_path

    out = tmp_path / "m.fishseg"
    _interrupt_at(monkeypatch, 12)
    with pytest.raises(KeyboardInterrupt):
        train_on_samples(toy_samples(4), from_dict(TINY), out, progress=False)
    monkeypatch.undo()
    # other frames: the saved state is another training's
    with pytest.warns(UserWarning, match=r"m\.fishseg\.training\.npz: a checkpoint of another "
                                         r"training"):
        train_on_samples(toy_samples(4, seed=1), from_dict(TINY), out, progress=False)
    assert "resumed_after_steps" not in FishsegModel.load(out).meta
    # a damaged one: a warning naming it, then a fresh start to the same model as always
    state_path(out).write_bytes(b"PK\x03\x04 not a whole file")
    out.unlink()
    with pytest.warns(UserWarning, match=r"m\.fishseg\.training\.npz: cannot read the training "
                                         r"checkpoint"):
        train_on_samples(toy_samples(4), from_dict(TINY), out, progress=False)
    got, ref = FishsegModel.load(out), FishsegModel.load(trained[0])
    assert "resumed_after_steps" not in got.meta
    for k, v in ref.arrays().items():
        np.testing.assert_array_equal(got.arrays()[k], v, err_msg=k)


def test_which_checkpoints_belong_to_a_run():
    from fishseg.model.resume import same_run

    default = {"train": {"steps": 6000, "seed": 0}, "model": {"features": [16, 32, 128]}}
    saved = {"data": "abc", "settings": {"train": {"steps": 30, "seed": 0},
                                         "model": {"features": [4, 8, 16]}}}
    run = {"data": "abc", "settings": {"train": {"steps": 30, "seed": 0},
                                       "model": {"features": (4, 8, 16)}}}
    assert same_run(saved, run, default)
    # a setting added to fishseg since the checkpoint: the same run at its default only
    assert same_run(saved, {**run, "settings": {**run["settings"], "new": {"x": 1}}},
                    {**default, "new": {"x": 1}})
    assert not same_run(saved, {**run, "settings": {**run["settings"], "new": {"x": 2}}},
                        {**default, "new": {"x": 1}})
    added = {"train": {"steps": 30, "seed": 0, "crop": 0}, "model": run["settings"]["model"]}
    assert same_run(saved, {**run, "settings": added},
                    {**default, "train": {**default["train"], "crop": 0}})
    # a changed value, a removed setting, other data, a checkpoint of an old layout
    assert not same_run(saved, {**run, "settings": {**run["settings"], "train": {
        "steps": 31, "seed": 0}}}, default)
    assert not same_run(saved, {**run, "settings": {"model": run["settings"]["model"]}},
                        default)
    assert not same_run(saved, {**run, "data": "abd"}, default)
    assert not same_run("0123abcd", run, default)


def test_a_checkpoint_that_cannot_be_saved_does_not_stop_the_training(trained, tmp_path,
                                                                     monkeypatch):
    from fishseg.model import resume

    calls = []

    def full_disk(path, *a, **k):
        calls.append(path)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(resume, "save", full_disk)
    cfg = from_dict({**TINY, "train": {**TINY["train"], "checkpoint_minutes": 1e-9}})
    out = tmp_path / "m.fishseg"
    with pytest.warns(UserWarning, match=r"m\.fishseg\.training\.npz: cannot save the "
                                         r"training's state .*No space left"):
        train_on_samples(toy_samples(4), cfg, out, progress=False)
    assert len(calls) == 1                        # tried once, then no more checkpoints
    got, ref = FishsegModel.load(out), FishsegModel.load(trained[0])
    for k, v in ref.arrays().items():
        np.testing.assert_array_equal(got.arrays()[k], v, err_msg=k)
