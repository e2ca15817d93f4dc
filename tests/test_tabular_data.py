import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from practicaltorch.data.cancer import BreastCancer
from practicaltorch.data.penguins import MASS_FEATURES, Penguins, load_penguin_table, split_penguins


def test_validation_split_is_ten_per_species_and_sex_and_disjoint() -> None:
    table = load_penguin_table()
    assert len(table) == 333 and not table.isna().any().any()
    train, valid = split_penguins(table)
    assert len(valid) == 60 and len(train) == 273
    assert (valid.groupby(["species", "sex"]).size() == 10).all()
    assert set(train.index).isdisjoint(valid.index)
    _, again_valid = split_penguins(table)
    assert valid.index.equals(again_valid.index), "deterministic"
    _, seeded = split_penguins(table, seed=5)
    assert not seeded.index.equals(valid.index)
    assert (seeded.groupby(["species", "sex"]).size() == 10).all()


def test_species_items_and_scaling_from_training_split_only() -> None:
    train, valid = Penguins(train=True), Penguins(train=False)
    x, y = valid[0]
    assert x.dtype == torch.float32 and x.shape == (5,)
    assert y.dtype == torch.int64 and valid.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert torch.equal(valid.mean, train.mean) and torch.equal(valid.std, train.std)
    continuous = train.features[:, :4]
    torch.testing.assert_close(continuous.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    assert valid.feature_names[-1] == "sex_male"
    assert set(train.features[:, 4].tolist()) == {0.0, 1.0}, "sex is 0/1, not scaled"
    xb, yb = next(iter(DataLoader(train, batch_size=16, shuffle=True)))
    assert xb.shape == (16, 5) and yb.shape == (16,)


def test_regression_target_and_one_hot_inputs() -> None:
    data = Penguins(features=MASS_FEATURES, target="body_mass_g", standardise_target=True)
    assert data.feature_names[:3] == ["species_Adelie", "species_Chinstrap", "species_Gentoo"]
    _, y = data[0]
    assert y.shape == (1,) and y.dtype == torch.float32
    raw = load_penguin_table()
    grams = data.unscale_target(data.targets).squeeze(1)
    train_rows, _ = split_penguins(raw)
    torch.testing.assert_close(
        grams, torch.tensor(train_rows["body_mass_g"].to_numpy(), dtype=torch.float32)
    )


def test_unknown_column_suggests_the_closest() -> None:
    with pytest.raises(
        ValueError,
        match=r"unknown column 'bil_length_mm'; did you mean 'bill_length_mm'\? available: species",
    ):
        Penguins(features=["bil_length_mm", "sex"])
    with pytest.raises(ValueError, match="did you mean 'body_mass_g'"):
        Penguins(target="body_mass")
    with pytest.raises(ValueError, match="both an input and the target"):
        Penguins(features=["body_mass_g"], target="body_mass_g")
    with pytest.raises(TypeError, match="list of column names"):
        Penguins(features="bill_length_mm")  # type: ignore[arg-type]


def test_encode_new_birds_matches_dataset_encoding() -> None:
    train = Penguins()
    row = load_penguin_table().loc[[0]]
    table_row = split_penguins(load_penguin_table())[0].index.get_loc(0)
    torch.testing.assert_close(train.encode(row)[0], train.features[table_row])
    as_dict = train.encode({c: row.iloc[0][c] for c in train.columns})
    torch.testing.assert_close(as_dict, train.encode(row))
    with pytest.raises(ValueError, match="lack"):
        train.encode(pd.DataFrame({"sex": ["male"]}))


def test_breast_cancer_split_and_targets() -> None:
    train, valid = BreastCancer(), BreastCancer(train=False)
    assert len(train) + len(valid) == 569
    assert len(valid) == 114
    x, y = train[0]
    assert x.shape == (30,) and y.shape == (1,)
    assert set(train.targets.unique().tolist()) == {0.0, 1.0}
    malignant = float(torch.cat([train.targets, valid.targets]).sum())
    assert malignant == 212, "212 malignant tumours in the data; malignant is class 1"
    assert abs(train.targets.mean().item() - valid.targets.mean().item()) < 0.01, "stratified"
    with pytest.raises(ValueError, match="valid_fraction"):
        BreastCancer(valid_fraction=1.5)
