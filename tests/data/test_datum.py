import pickle

import pytest

from ramt.data.datum import DatasetBase, Datum, get_lab2cname, get_num_classes, split_dataset_by_label


def test_datum_properties_are_read_only():
    d = Datum("a/b.jpg", 3, classname="cat")
    assert (d.impath, d.label, d.domain, d.classname) == ("a/b.jpg", 3, 0, "cat")
    assert d._impath == "a/b.jpg" and d._label == 3 and d._domain == 0 and d._classname == "cat"
    with pytest.raises(AttributeError):
        d.label = 4
    assert pickle.loads(pickle.dumps(d)) == d


def test_split_by_label_keeps_first_seen_order():
    items = [Datum("x", 2), Datum("y", 0), Datum("z", 2), Datum("w", 1)]
    groups = split_dataset_by_label(items)
    assert list(groups) == [2, 0, 1]
    assert [d.impath for d in groups[2]] == ["x", "z"]
    assert get_num_classes(items) == 3


def test_dataset_base_derived_fields():
    train = [Datum("a", 1, classname="b"), Datum("b", 0, classname="a")]
    ds = DatasetBase(train_x=train, val=None, test=train, split_fingerprint="abc")
    assert ds.num_classes == 2
    assert ds.classnames == ["a", "b"]
    assert ds.lab2cname == {0: "a", 1: "b"}
    assert ds.split_fingerprint == "abc"
    assert ds.val is None
    assert get_lab2cname(train)[1] == ["a", "b"]


def test_dataset_base_test_only_with_classnames():
    ds = DatasetBase(test=[Datum("a", 1, classname="y")], classnames=["x", "y", "z"])
    assert ds.num_classes == 3 and ds.classnames == ["x", "y", "z"] and ds.train_x == []


def test_label_gap_is_an_error_naming_the_dataset():
    class Foo(DatasetBase):
        pass

    with pytest.raises(ValueError, match=r"Foo.*0\.\.2"):
        Foo(train_x=[Datum("a", 0), Datum("b", 2)])


def test_test_labels_outside_range_are_an_error():
    with pytest.raises(ValueError, match="test"):
        DatasetBase(train_x=[Datum("a", 0)], test=[Datum("b", 5)])
