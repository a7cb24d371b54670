"""A nested model's weights in a legacy `.h5` group, put on the sub-layers they belong to.

A nested model's group lists every weight of the model in `weight_names`, each named by a
variable scope: `dense_1/kernel:0` (tf.keras), `sub/dense_1/kernel` (Keras 3's writer). The
scope names the sub-layer, except where TF1-era Keras (2.2.4-tf and earlier, graph mode)
made a scope unique with a suffix: a layer named `latent_vector` in a model built twice in
one session stores `latent_vector_1/kernel:0`. Keras itself loads such a group by position
(the model's trainable weights layer by layer, then its non-trainable ones), never by name;
so a weight whose scope names no layer goes to the layer of the name without the suffix only
when that placement is the one Keras's order gives, and is refused otherwise. Scopes of another
session (`dense_8` where the architecture's nested model holds `dense_2`) pair with its layers in
order within each name stem, again only where Keras's order confirms it. tf.keras's adapted
Normalization names its weights with no scope at all (`mean:0`): they go to the model's one
Normalization.
"""
from __future__ import annotations

from typing import Iterator

from ..errors import LayoutError
from ..graph import Layer, Tensor
from .renamed_layers import paired_by_order, stem
#: roles Keras keeps among a layer's non-trainable weights (saved after every trainable one)
NON_TRAINABLE_ROLES = frozenset({"moving_mean", "moving_variance"})
#: tf.keras's adapted Normalization creates its weights outside its name scope: in a nested model's group they are
#: `mean:0`, `variance:0`, `count:0`, naming no layer
UNSCOPED_NORMALIZATION = frozenset({"mean", "variance", "count"})


def place_weights(model: Layer, weights: list[tuple[list[str], Tensor]]) -> None:
    """Put each (name components, tensor) of nested `model`'s group on its sub-layer; LayoutError when a
    weight's layer cannot be told (see the module's docstring)."""
    unplaced: list[tuple[list[str], Tensor, LayoutError]] = []
    for components, tensor in weights:
        try:
            _place(model, components, tensor)
        except LayoutError as error:
            unplaced.append((components, tensor, error))
    if not unplaced:
        return
    unscoped = [tensor for components, tensor, _ in unplaced if not components]
    normalizations = [leaf for leaf in model.walk() if leaf.class_name == "Normalization" and not leaf.tensors]
    if len(unscoped) == len(unplaced) and {tensor.role for tensor in unscoped} <= UNSCOPED_NORMALIZATION and \
            len(normalizations) == 1 and len({tensor.role for tensor in unscoped}) == len(unscoped):
        normalizations[0].tensors += unscoped  # the one layer they can be
        return
    claimed = {id(leaf) for leaf in model.walk() if leaf.tensors}  # named by their own scope
    if not _paired_by_stem(model, unplaced, claimed):
        scopes: dict[int, str] = {}
        for components, tensor, refusal in unplaced:
            leaf, scope = _unsuffixed(model, components)
            if leaf is None or id(leaf) in claimed or scopes.setdefault(id(leaf), scope) != scope:
                raise refusal
            leaf.tensors.append(tensor)
    if not _in_keras_order(model, [tensor for _, tensor in weights]):
        raise LayoutError(f"{unplaced[0][2]}; its scope {'/'.join(unplaced[0][0])} is a layer's name made unique "
                          "(a suffix), but the order Keras loads the weights in does not confirm which layer")


def _paired_by_stem(model: Layer, unplaced: list[tuple[list[str], Tensor, LayoutError]], claimed: set[int]) -> bool:
    """Scopes naming no layer, each a layer's own (`dense_8/kernel:0`), paired with the model's unclaimed leaves in
    order within each name stem (renamed_layers.paired_by_order): the nested model of weights and an architecture
    of two sessions (tf.keras numbered `dense_8` where the config says `dense_2`), which Keras loads by position.
    Only where every stem counts alike in both; True when every weight was placed so (place_weights then checks
    Keras's order)."""
    if any(len(components) != 1 for components, _, _ in unplaced):
        return False
    leaves = [leaf for leaf in model.walk() if leaf.children is None and id(leaf) not in claimed
              and leaf is not model and leaf.class_name != "InputLayer"]
    scopes = list(dict.fromkeys(components[0] for components, _, _ in unplaced))
    if len(scopes) > len(leaves):
        return False
    paired = paired_by_order(leaves, scopes)
    if paired is None:
        return False
    for components, tensor, _ in unplaced:
        paired[components[0]].tensors.append(tensor)
    return True


def _place(model: Layer, components: list[str], tensor: Tensor) -> None:
    """Put a weight on the sub-layer its name points to.

    The sub-layer is the first name component naming a child (`sub/dense_1/kernel` from
    Keras 3, `dense_1/kernel:0` from tf.keras); tf.keras omits the names of models nested
    two deep, so a leaf found further down is taken when it is the only one.
    """
    children = {child.name: child for child in model.children or []}
    for index, component in enumerate(components):
        child = children.get(component)
        if child is None:
            continue
        if child.is_model:
            _place(child, components[index + 1:], tensor)
        else:
            child.tensors.append(tensor)
        return
    if not components:  # a bare name (`kernel`): no scope to go by, and Keras's order alone is no proof of a layer
        raise LayoutError(
            f"{tensor.source}: cannot tell which layer of nested model {model.name} this weight belongs to: its "
            f"name ({tensor.source.rsplit('/', 1)[-1]}) names no layer, as Keras 3.0 to 3.2 store a nested model's "
            "weights in a legacy .h5; load the file with that Keras and save it as .keras "
            "(model.save('model.keras')), then convert that"
        )
    leaves = [leaf for leaf in model.walk() if leaf.name in components]
    if len(leaves) != 1:
        raise LayoutError(
            f"{tensor.source}: cannot tell which layer of nested model {model.name} this weight "
            f"belongs to ({'/'.join(components)}: {len(leaves)} candidates)"
        )
    leaves[0].tensors.append(tensor)


def _unsuffixed(model: Layer, components: list[str]) -> tuple[Layer | None, str]:
    """The one leaf whose name is a component of `components` without its unique-making suffix, and that
    component; (None, "") unless exactly one leaf is found so."""
    # (a scope made unique by TF1-era Keras: `latent_vector_1` for layer `latent_vector`)
    found = [(leaf, component) for component in components if (base := stem(component)) != component
             for leaf in model.walk() if leaf.name == base]
    return found[0] if len(found) == 1 else (None, "")


def _in_keras_order(model: Layer, stored: list[Tensor]) -> bool:
    """Whether the stored order is the one Keras gives the model's weights: every trainable weight, sub-layer
    by sub-layer in the model's order, then every non-trainable one (moving statistics, and all of a frozen
    layer's), sub-layer by sub-layer."""
    place: dict[int, tuple[bool, int]] = {}
    for index, (leaf, trainable) in enumerate(_leaves(model, True)):
        for tensor in leaf.tensors:
            place[id(tensor)] = (not trainable or tensor.role in NON_TRAINABLE_ROLES, index)
    keys = [place.get(id(tensor)) for tensor in stored]
    return None not in keys and all(a <= b for a, b in zip(keys, keys[1:]))  # type: ignore[operator]


def _leaves(layer: Layer, trainable: bool) -> Iterator[tuple[Layer, bool]]:
    """Each leaf under `layer` in order, with whether Keras trains it (a frozen model freezes its layers)."""
    trainable = trainable and layer.config.get("trainable", True) is not False
    if layer.children is None:
        yield layer, trainable
    else:
        for child in layer.children:
            yield from _leaves(child, trainable)
