"""Model files: bit-exact round trips and clear errors for bad files."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import load_file, save_file

import vidclass
from vidclass.checkpoints import FORMAT, ModelFileError, read_model_file


@pytest.fixture
def classifier():
    return vidclass.create_model("vivit-micro-tl4at1", labels=["waving", "clapping", "jumping"], seed=1)


@pytest.fixture
def model_file(tmp_path, classifier):
    return vidclass.save_model(classifier, tmp_path / "m.safetensors")


def header(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def write_header(path, head, body):
    blob = json.dumps(head).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + body)


def test_round_trip_is_bit_exact_with_metadata(classifier, model_file):
    loaded = vidclass.load_model(model_file)
    original = classifier.model.state_dict()
    assert loaded.model.state_dict().keys() == original.keys()
    assert all(torch.equal(loaded.model.state_dict()[k], v) for k, v in original.items())
    assert loaded.config == classifier.config
    assert loaded.labels == ("waving", "clapping", "jumping")
    assert loaded.preprocessing == classifier.preprocessing
    assert loaded.protocol == classifier.protocol
    assert loaded.provenance == {"created_from": "vivit-micro-tl4at1", "weights": "random init", "seed": 1}
    assert loaded.name == "vivit-micro-tl4at1"
    assert loaded.source == str(model_file)
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), classifier.model(x))
    again = vidclass.save_model(loaded, model_file.with_name("again.safetensors"))
    # safetensors orders its header map by hash, so compare the parsed header and the data
    (head_a, body_a), (head_b, body_b) = header(again), header(model_file)
    assert head_a == head_b and body_a == body_b


def test_metadata_is_plain_json(model_file):
    head, _ = header(model_file)
    meta = head["__metadata__"]
    assert meta["format"] == FORMAT
    assert json.loads(meta["labels"]) == ["waving", "clapping", "jumping"]
    assert json.loads(meta["config"])["tokenlearner"]["num_tokens"] == 4
    assert json.loads(meta["preprocessing"])["num_frames"] == 8
    assert json.loads(meta["protocol"]) == {"clips": 4, "crops": 3, "aggregate": "softmax"}


def test_same_seed_same_weights_and_labels_default():
    a = vidclass.create_model("vivit-micro", seed=3)
    b = vidclass.create_model("vivit-micro", seed=3)
    assert all(
        torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values(), strict=True)
    )
    assert a.labels == tuple(f"class_{i}" for i in range(400))


def test_truncated_file(model_file):
    model_file.write_bytes(model_file.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match="not a readable safetensors file"):
        read_model_file(model_file)


def test_header_length_lies(model_file):
    raw = model_file.read_bytes()
    model_file.write_bytes(struct.pack("<Q", 10**12) + raw[8:])
    with pytest.raises(ModelFileError, match="not a readable safetensors file"):
        read_model_file(model_file)


def test_random_bytes_and_empty_file(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(ModelFileError):
        read_model_file(junk)
    junk.write_bytes(b"")
    with pytest.raises(ModelFileError):
        read_model_file(junk)


def test_missing_file_and_unweighted_registry_name(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        vidclass.load_model(tmp_path / "nope.safetensors")
    with pytest.raises(ModelFileError, match="configuration with no weights"):
        vidclass.load_model("vivit-micro")


def test_tensors_that_do_not_match_the_config(tmp_path, model_file):
    tensors = load_file(str(model_file))
    meta = header(model_file)[0]["__metadata__"]
    del tensors["head.bias"]
    tensors["extra.weight"] = torch.zeros(2)
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(ModelFileError, match=r"missing tensor\(s\) head.bias; unexpected tensor\(s\) extra.weight"):
        read_model_file(bad)


def test_wrong_tensor_shape_is_named(tmp_path, model_file):
    tensors = load_file(str(model_file))
    meta = header(model_file)[0]["__metadata__"]
    tensors["head.weight"] = torch.zeros(4, 64)
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(ModelFileError, match=r"tensor head.weight has shape \(4, 64\), the config needs \(3, 64\)"):
        read_model_file(bad)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("format", "something/else", "metadata 'format'"),
        ("config", "{not json", "'config' is not valid JSON"),
        ("config", '{"hidden_size": 64, "bogus": 1}', "unknown model config field"),
        ("labels", '["a", "b"]', "2 labels for a model with 3 classes"),
        ("labels", '{"a": 1}', "'labels' must be a JSON list"),
        ("preprocessing", '{"num_frames": 0}', "num_frames must be >= 1"),
        ("protocol", '{"clips": 4, "crops": 2}', "crops must be 1"),
        ("protocol", '{"clips": 4, "crops": 3, "aggregate": "__import__"}', "invalid metadata"),
    ],
)
def test_bad_metadata(model_file, key, value, message):
    head, body = header(model_file)
    head["__metadata__"][key] = value
    write_header(model_file, head, body)
    with pytest.raises(ModelFileError, match=message):
        read_model_file(model_file)


def test_missing_metadata_entry(model_file):
    head, body = header(model_file)
    del head["__metadata__"]["labels"]
    write_header(model_file, head, body)
    with pytest.raises(ModelFileError, match="no 'labels' entry"):
        read_model_file(model_file)


def test_model_card_reads_the_header_alone(classifier, model_file):
    card = vidclass.checkpoints.read_model_card(model_file)
    assert card.name == classifier.name
    assert card.config == classifier.config
    assert card.labels == classifier.labels
    assert card.preprocessing == classifier.preprocessing
    assert card.protocol == classifier.protocol
