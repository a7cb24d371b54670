"""Sharded Hugging Face TensorFlow checkpoints: `tf_model.h5.index.json` and the shards it names.

transformers 4.x's `save_pretrained` shards a TF model larger than `max_shard_size` (10 GB by
default) into `tf_model-0000N-of-0000M.h5` files. Each shard holds its variables as datasets
named after the variable less the model's own scope (`bert/embeddings/...:0` for
`tf_bert_model/bert/embeddings/...:0`; a name without `/`, or holding `model.`, is kept whole),
listed in its `layer_names` attribute; the index's weight_map gives each full name its shard.
The two must agree name by name; the variables are then read under their full names, the same
tree one `tf_model.h5` gives.
"""
from __future__ import annotations

import os

from ..errors import ReadError
from ..graph import ModelGraph, Tensor

# h5py and the HDF5 readers are imported when a sharded checkpoint is read: `import converter` needs neither

#: the index transformers writes beside the shards
INDEX = "tf_model.h5.index.json"


def is_index(path: str) -> bool:
    return os.path.basename(path) == INDEX


def stored_name(full_name: str) -> str:
    """The dataset name transformers' writer gives a variable in its shard."""
    return full_name if "model." in full_name or "/" not in full_name else full_name.split("/", 1)[1]


def read(index: str) -> ModelGraph:
    """The checkpoint's variables, under their full names, as a tree of named variables."""
    import h5py

    from . import variable_tree
    from .hdf5_checks import file_store, open_hdf5
    from .hdf5_tensors import list_attribute, tensor_from_dataset
    from .sharded import read_weight_map, shard_files

    weight_map = read_weight_map(index, "a Hugging Face TensorFlow checkpoint index")
    wanted: dict[str, dict[str, str]] = {}  # shard file name -> {name in the shard: full name}
    for full_name, shard in weight_map.items():
        if not isinstance(shard, str):
            raise ReadError(f"{index}: weight_map gives {full_name!r} the shard {shard!r}; expected a file name")
        names = wanted.setdefault(shard, {})
        if stored_name(full_name) in names:
            raise ReadError(f"{index}: {names[stored_name(full_name)]!r} and {full_name!r} would be one dataset "
                            f"of {shard}; the index is inconsistent")
        names[stored_name(full_name)] = full_name
    graph = ModelGraph(layers=[], source=index, format="hf-tf-sharded",
                       keras_version="unknown (not stored in the shards)")
    try:
        weights: list[tuple[str, Tensor]] = []
        graph.files = shard_files(index, weight_map)
        for file in graph.files:
            h5 = graph.resources.enter_context(open_hdf5(file, file))
            store = file_store(h5, file)
            names = wanted[os.path.basename(file)]
            listed = list_attribute(h5, "layer_names", file) or []
            unlisted = sorted(set(names) - set(listed)) or sorted(set(listed) - set(names))
            if unlisted or len(listed) != len(set(listed)):
                what = f"{unlisted[0]!r} is in one but not the other" if unlisted else "a name is listed twice"
                raise ReadError(f"{file}: its layer_names and the index's weight_map disagree ({what}); the "
                                "checkpoint is damaged or was not written by transformers")
            for name in listed:
                dataset = h5.get(name)
                if not isinstance(dataset, h5py.Dataset):
                    raise ReadError(f"{file}: layer_names lists {name!r} but the shard has no such dataset")
                scopes, _, leaf = names[name].rpartition("/")
                role = leaf.split(":")[0]  # TensorFlow's output index (`:0`) is not part of the name
                weights.append((f"{scopes}/{role}" if scopes else role,
                                tensor_from_dataset(dataset, role, f"{file}:/{name}", store)))
        graph.layers = variable_tree.tree(weights)
    except BaseException:
        graph.close()
        raise
    return graph
