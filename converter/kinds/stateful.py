"""stateful=True recurrent layers: each call starts from the states the previous call ended with.

Keras's RNN.call: a stateful layer called without `initial_state` starts from its `states`
variables (zeros when built, and after reset_states()), and assigns the states its call ended
with to them. Neither file format stores those variables (Keras 3 does not track them; tf.keras
and Keras 2 save only the layer's weights), so a loaded model starts from zeros. The generated
module keeps each stateful layer's states in its class's `_carried_states` (not a buffer, not
in the state_dict: they are no weights), and its `reset_states()` empties them.
"""
from __future__ import annotations

from ..source import literal
from .forward import Emitter


def carried_in(e: Emitter, x: str, sizes: list[int], given: list[str]) -> tuple[str, list[str]]:
    """The dict the layer keeps its states in, and the states its call starts from (expressions): Keras 3 starts
    from `given` (the call's `initial_state`) when there are any, else from the carried ones. `x`: the call's
    input, for the batch size."""
    store = e.carried_states()
    if given:
        if e.keras_major < 3:  # tf.keras's RNN._process_inputs: the carried states once any is non-zero
            raise e.unsupported("stateful=True and called with initial_state: tf.keras starts from the carried state "
                                "once it is non-zero, Keras 2.2 from the given one, and the file does not tell "
                                "which Keras runs it")
        return store, given
    carried = e.variable("carried")
    e.statement(f"{carried} = {e.helper('carried_state')}({store}, {literal(e.layer.name)}, {x}, "
                f"{literal(tuple(sizes))})")
    return store, [f"{carried}[{index}]" for index in range(len(sizes))]


def carried_out(e: Emitter, store: str, finals: list[str]) -> None:
    """Keep the states the call ended with in `store` (Keras assigns them to its state variables) for the next
    call."""
    kept = ", ".join(f"{state}.detach()" for state in finals)
    e.statement(f"{store}[{literal(e.layer.name)}] = [{kept}]")
