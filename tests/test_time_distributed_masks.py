"""TimeDistributed of a masked input, against Keras: documents of padded sentences.

An Embedding(mask_zero=True) over (documents, sentences, words) ids masks each padded word.
TimeDistributed hands the layer it wraps each sentence's slice of that mask (both Keras
fold time into the batch, or step through it, and pass mask[:, t]): an LSTM skips the padded
words, a GlobalAveragePooling1D averages the others only. What the wrapper's output carries
differs: tf.keras gives the wrapped layer's own output mask back per sentence, or, where the
wrapped layer computes none (an LSTM returning its last state, a pooling), whether a sentence
has any word left; Keras 3 passes the input's mask on unchanged. The LSTM over sentences after
it (tf.keras) skips empty sentences only if that mask is right.
"""
from __future__ import annotations

import numpy as np
import pytest

from build_harness import check

WORDS = 5
#: documents of 3 sentences of 5 word ids, 0 the padding: after, before and between the words, none
SENTENCES = np.array([
    [[3, 4, 5, 0, 0], [0, 0, 6, 7, 8], [1, 2, 3, 4, 5]],
    [[9, 0, 9, 0, 9], [2, 2, 0, 0, 0], [0, 7, 0, 0, 0]],
    [[1, 1, 1, 1, 1], [5, 4, 3, 2, 1], [0, 0, 0, 0, 6]],
    [[8, 0, 0, 0, 0], [3, 5, 0, 6, 0], [4, 4, 4, 0, 0]],
], dtype="int32")
#: the same with empty sentences (every word padding): at the start, between and at the end of a document
WITH_EMPTY = SENTENCES.copy()
WITH_EMPTY[0, 0] = 0
WITH_EMPTY[1, 1] = 0
WITH_EMPTY[2, 2] = 0


def _words(keras, L):
    ids = keras.Input((3, WORDS), dtype="int32", name="ids")
    return ids, L.Embedding(20, 4, mask_zero=True, name="embedding")(ids)


def _encoder(keras, L, return_sequences: bool):
    words = keras.Input((WORDS, 4), name="words")
    return keras.Model(words, L.GRU(3, return_sequences=return_sequences, name="gru")(words), name="encoder")


#: (keras, layers) -> (ids input, output); every case runs in both Keras
BOTH = {
    "an LSTM per sentence": lambda keras, L, ids, e: L.Dense(2, name="dense")(
        L.Flatten(name="flatten")(L.TimeDistributed(L.LSTM(3, name="lstm"), name="per_sentence")(e))),
    "averaged word vectors": lambda keras, L, ids, e: L.Dense(2, name="dense")(
        L.TimeDistributed(L.GlobalAveragePooling1D(name="average"), name="per_sentence")(e)),
    "GRU sequences, then averaged": lambda keras, L, ids, e: L.TimeDistributed(
        L.GlobalAveragePooling1D(name="average"), name="averaged")(
        L.TimeDistributed(L.GRU(3, return_sequences=True, name="gru"), name="per_sentence")(e)),
    "a sentence encoder model": lambda keras, L, ids, e: L.Dense(2, name="dense")(L.Flatten(name="flatten")(
        L.TimeDistributed(_encoder(keras, L, False), name="per_sentence")(e))),
    "an encoder model's sequences, then averaged": lambda keras, L, ids, e: L.TimeDistributed(
        L.GlobalAveragePooling1D(name="average"), name="averaged")(
        L.TimeDistributed(_encoder(keras, L, True), name="per_sentence")(e)),
    "an Embedding per sentence, then an LSTM": lambda keras, L, ids, e: L.Flatten(name="flatten")(
        L.TimeDistributed(L.LSTM(3, name="lstm"), name="encoded")(
            L.TimeDistributed(L.Embedding(20, 4, mask_zero=True, name="inner_embedding"), name="per_sentence")(ids))),
}
#: tf.keras only: Keras 3 hands the LSTM over sentences the words' mask, and fails on it itself
OLD_KERAS = {
    "an LSTM per sentence, an LSTM over them": lambda keras, L, ids, e: L.LSTM(2, name="over_sentences")(
        L.TimeDistributed(L.LSTM(3, name="lstm"), name="per_sentence")(e)),
    "a sentence encoder model, an LSTM over them": lambda keras, L, ids, e: L.LSTM(2, name="over_sentences")(
        L.TimeDistributed(_encoder(keras, L, False), name="per_sentence")(e)),
    "averaged word vectors, an LSTM over them": lambda keras, L, ids, e: L.LSTM(2, name="over_sentences")(
        L.TimeDistributed(L.GlobalAveragePooling1D(name="average"), name="per_sentence")(
            L.TimeDistributed(L.Dense(4, name="dense"), name="dense_per_word")(e))),
}
CASES = [(writer, case) for case in sorted(BOTH) for writer in ("keras3", "keras2")] + \
        [("keras2", case) for case in sorted(OLD_KERAS)]


@pytest.mark.parametrize("writer, case", CASES, ids=[f"{writer}-{case}" for writer, case in CASES])
def test_time_distributed_of_masked_sentences_matches_keras(tmp_path, writer, case):
    """Refused by name before ("of a masked input is not built yet"), or, for a wrapped pooling, built without the
    mask: its averages took the padding in (a module that ran and was wrong)."""
    layer = {**BOTH, **OLD_KERAS}[case]

    def build(keras):
        ids, embedded = _words(keras, keras.layers)
        return keras.Model(ids, layer(keras, keras.layers, ids, embedded))

    # averages of an empty sentence are 0 / 0 in Keras: only the recurrent cases see one
    inputs = SENTENCES if "averaged" in case else WITH_EMPTY
    check(tmp_path, writer, build, [inputs])
