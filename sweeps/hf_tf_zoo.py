"""Hugging Face TensorFlow checkpoints of many architectures, converted and compared with TensorFlow.

`make` builds a tiny random-weight model of each architecture below with transformers 4.x's TF
class (transformers 5 has no TensorFlow: run it in a venv of its own), saves it with
`save_pretrained` and TensorFlow's output beside it (`io.npz`); every weight is random,
BatchNorm variances positive (index tables, such as Swin's, are left as built). `check` (the
project's venv) converts each folder with weightport, loads it with transformers 5's PyTorch
class, strictly, and compares the outputs (padded positions left out: their outputs mean
nothing, and transformers 5 computes them differently from 4.x for DeBERTa). Where
transformers' own TF and PyTorch classes compute differently (hugging_face.KNOWN_DIFFERENCES,
which the conversion warns of) the row says so and is not counted.

    python3.11 -m venv /tmp/tf215 && /tmp/tf215/bin/pip install "tensorflow-cpu==2.15.*" "transformers==4.46.3"
    /tmp/tf215/bin/python sweeps/hf_tf_zoo.py make /tmp/hfzoo [NAME...]
    .venv/bin/python sweeps/hf_tf_zoo.py check /tmp/hfzoo

Exit status 1 when any architecture is refused, fails to load strictly or differs by more
than 1e-5.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

import numpy as np

T = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
         max_position_embeddings=64)
S2S = dict(vocab_size=99, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4,
           decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64)
VIS = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=32,
           patch_size=8, num_channels=3)
TEXT, SEQ2SEQ, IMAGE = "text", "seq2seq", "image"
AUDIO, SPEECH2TEXT, TEXT_IMAGE = "audio", "speech2text", "text+image"
AUDIO_CONV = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, conv_dim=(8, 8),
                  conv_stride=(4, 4), conv_kernel=(8, 4), num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2,
                  vocab_size=20)
ZOO = {
    "gpt2_cls": ("TFGPT2ForSequenceClassification", "GPT2Config", dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4,
                 n_positions=64, num_labels=3, pad_token_id=0), TEXT),
    "bert_pretraining": ("TFBertForPreTraining", "BertConfig", T, TEXT),
    "roberta_mlm": ("TFRobertaForMaskedLM", "RobertaConfig", T, TEXT),
    "albert_pretraining": ("TFAlbertForPreTraining", "AlbertConfig", dict(T, embedding_size=16), TEXT),
    "xlnet_lm": ("TFXLNetLMHeadModel", "XLNetConfig", dict(vocab_size=99, d_model=32, n_layer=2, n_head=4,
                 d_inner=37), TEXT),
    "whisper": ("TFWhisperForConditionalGeneration", "WhisperConfig", dict(vocab_size=99, d_model=32,
                encoder_layers=1, decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4,
                encoder_ffn_dim=37, decoder_ffn_dim=37, num_mel_bins=8, max_source_positions=16,
                max_target_positions=16, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                decoder_start_token_id=1, begin_suppress_tokens=None, suppress_tokens=None), SPEECH2TEXT),
    "speech2text": ("TFSpeech2TextModel", "Speech2TextConfig", dict(S2S, input_feat_per_channel=8,
                    input_channels=1, conv_channels=16, conv_kernel_sizes=[5, 5], max_source_positions=64,
                    max_target_positions=64), SPEECH2TEXT),
    "wav2vec2_ctc": ("TFWav2Vec2ForCTC", "Wav2Vec2Config", AUDIO_CONV, AUDIO),
    "hubert": ("TFHubertModel", "HubertConfig", AUDIO_CONV, AUDIO),
    "clip": ("TFCLIPModel", "CLIPConfig", dict(
        text_config=dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=37, max_position_embeddings=64, projection_dim=16),
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                           image_size=32, patch_size=8, projection_dim=16), projection_dim=16), TEXT_IMAGE),
    "layoutlmv3": ("TFLayoutLMv3Model", "LayoutLMv3Config", dict(T, input_size=32, patch_size=8,
                   max_2d_position_embeddings=64, coordinate_size=6, shape_size=4), "layout"),
    "tapas": ("TFTapasModel", "TapasConfig", T, TEXT),
    "dpr_ctx": ("TFDPRContextEncoder", "DPRConfig", T, TEXT),
    "lxmert": ("TFLxmertModel", "LxmertConfig", dict(vocab_size=99, hidden_size=32, num_attention_heads=4,
               intermediate_size=37, l_layers=1, x_layers=1, r_layers=1, visual_feat_dim=8, visual_pos_dim=4),
               "lxmert"),
    "groupvit": ("TFGroupViTModel", "GroupViTConfig", dict(
        text_config=dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=37, max_position_embeddings=64),
        vision_config=dict(hidden_size=32, num_hidden_layers=2, depths=[1, 1], num_group_tokens=[4, 0],
                           num_output_groups=[4, 1], num_attention_heads=4, intermediate_size=37, image_size=32,
                           patch_size=8), projection_dim=16, projection_intermediate_dim=32), TEXT_IMAGE),
    "swiftformer": ("TFSwiftFormerModel", "SwiftFormerConfig", dict(depths=[1, 1, 1, 1],
                    embed_dims=[8, 8, 16, 16]), IMAGE),
    "vit_mae": ("TFViTMAEModel", "ViTMAEConfig", dict(VIS, mask_ratio=0.5), "mae"),

    "roberta": ("TFRobertaModel", "RobertaConfig", T, TEXT),
    "roberta_cls": ("TFRobertaForSequenceClassification", "RobertaConfig", dict(T, num_labels=3), TEXT),
    "xlm_roberta": ("TFXLMRobertaModel", "XLMRobertaConfig", T, TEXT),
    "camembert_mlm": ("TFCamembertForMaskedLM", "CamembertConfig", T, TEXT),
    "albert": ("TFAlbertModel", "AlbertConfig", dict(T, embedding_size=16), TEXT),
    "electra_disc": ("TFElectraForPreTraining", "ElectraConfig", dict(T, embedding_size=16), TEXT),
    "bert_mlm": ("TFBertForMaskedLM", "BertConfig", T, TEXT),
    "bert_tokcls": ("TFBertForTokenClassification", "BertConfig", dict(T, num_labels=5), TEXT),
    "bert_qa": ("TFBertForQuestionAnswering", "BertConfig", T, TEXT),
    "distilbert_cls": ("TFDistilBertForSequenceClassification", "DistilBertConfig",
                       dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64),
                       TEXT),
    "mobilebert": ("TFMobileBertModel", "MobileBertConfig", dict(T, embedding_size=16, intra_bottleneck_size=16,
                   true_hidden_size=16, num_feedforward_networks=2), TEXT),
    "deberta": ("TFDebertaModel", "DebertaConfig", T, TEXT),
    "deberta_v2": ("TFDebertaV2Model", "DebertaV2Config", T, TEXT),
    "mpnet": ("TFMPNetModel", "MPNetConfig", T, TEXT),
    "convbert": ("TFConvBertModel", "ConvBertConfig", dict(T, embedding_size=32), TEXT),
    "roformer": ("TFRoFormerModel", "RoFormerConfig", dict(T, embedding_size=32), TEXT),
    "funnel": ("TFFunnelModel", "FunnelConfig", dict(vocab_size=99, d_model=32, n_head=4, d_head=8, d_inner=37,
               block_sizes=[1, 1], num_decoder_layers=1), TEXT),
    "xlnet": ("TFXLNetModel", "XLNetConfig", dict(vocab_size=99, d_model=32, n_layer=2, n_head=4, d_inner=37), TEXT),
    "openai_gpt": ("TFOpenAIGPTModel", "OpenAIGPTConfig", dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4,
                   n_positions=64), TEXT),
    "ctrl": ("TFCTRLModel", "CTRLConfig", dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, dff=37,
             n_positions=64), TEXT),
    "gptj": ("TFGPTJModel", "GPTJConfig", dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64,
             rotary_dim=4), TEXT),
    "opt": ("TFOPTModel", "OPTConfig", dict(vocab_size=99, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=4, ffn_dim=37, max_position_embeddings=64, word_embed_proj_dim=32), TEXT),
    "xglm": ("TFXGLMModel", "XGLMConfig", dict(vocab_size=99, d_model=32, num_layers=2, attention_heads=4,
             ffn_dim=37, max_position_embeddings=64), TEXT),
    "mistral": ("TFMistralModel", "MistralConfig", dict(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, intermediate_size=37, max_position_embeddings=64), TEXT),
    "esm": ("TFEsmModel", "EsmConfig", dict(T, pad_token_id=1, mask_token_id=2), TEXT),
    "rembert": ("TFRemBertModel", "RemBertConfig", dict(T, input_embedding_size=16, output_embedding_size=16), TEXT),
    "layoutlm": ("TFLayoutLMModel", "LayoutLMConfig", T, TEXT),
    "flaubert": ("TFFlaubertModel", "FlaubertConfig", dict(vocab_size=99, emb_dim=32, n_layers=2, n_heads=4,
                 max_position_embeddings=64), TEXT),
    "xlm": ("TFXLMModel", "XLMConfig", dict(vocab_size=99, emb_dim=32, n_layers=2, n_heads=4,
            max_position_embeddings=64), TEXT),
    "longformer": ("TFLongformerModel", "LongformerConfig", dict(T, attention_window=4, pad_token_id=1), TEXT),
    "bart_cg": ("TFBartForConditionalGeneration", "BartConfig", S2S, SEQ2SEQ),
    "mbart": ("TFMBartModel", "MBartConfig", S2S, SEQ2SEQ),
    "marian": ("TFMarianMTModel", "MarianConfig", dict(S2S, decoder_vocab_size=99, pad_token_id=98), SEQ2SEQ),
    "pegasus": ("TFPegasusModel", "PegasusConfig", S2S, SEQ2SEQ),
    "blenderbot": ("TFBlenderbotModel", "BlenderbotConfig", S2S, SEQ2SEQ),
    "blenderbot_small": ("TFBlenderbotSmallModel", "BlenderbotSmallConfig", S2S, SEQ2SEQ),
    "led": ("TFLEDModel", "LEDConfig", dict(S2S, attention_window=4, max_encoder_position_embeddings=64,
            max_decoder_position_embeddings=64), SEQ2SEQ),
    "mt5": ("TFMT5ForConditionalGeneration", "MT5Config", dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37,
            num_layers=2, num_heads=4, relative_attention_num_buckets=8), SEQ2SEQ),
    "t5_enc": ("TFT5EncoderModel", "T5Config", dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2,
               num_heads=4, relative_attention_num_buckets=8), TEXT),
    "deit": ("TFDeiTModel", "DeiTConfig", VIS, IMAGE),
    "vit_cls": ("TFViTForImageClassification", "ViTConfig", dict(VIS, num_labels=3), IMAGE),
    "data2vec_vision": ("TFData2VecVisionModel", "Data2VecVisionConfig", VIS, IMAGE),
    "convnext": ("TFConvNextModel", "ConvNextConfig", dict(num_channels=3, hidden_sizes=[8, 8, 16, 16],
                 depths=[1, 1, 1, 1], image_size=32), IMAGE),
    "convnextv2": ("TFConvNextV2Model", "ConvNextV2Config", dict(num_channels=3, hidden_sizes=[8, 8, 16, 16],
                   depths=[1, 1, 1, 1], image_size=32), IMAGE),
    "resnet": ("TFResNetModel", "ResNetConfig", dict(num_channels=3, embedding_size=8, hidden_sizes=[8, 16],
               depths=[1, 1], layer_type="bottleneck"), IMAGE),
    "regnet": ("TFRegNetModel", "RegNetConfig", dict(num_channels=3, embedding_size=8, hidden_sizes=[8, 16],
               depths=[1, 1], groups_width=8), IMAGE),
    "swin": ("TFSwinModel", "SwinConfig", dict(image_size=32, patch_size=4, num_channels=3, embed_dim=8,
             depths=[1, 1], num_heads=[2, 2], window_size=2), IMAGE),
    "segformer": ("TFSegformerModel", "SegformerConfig", dict(num_channels=3, num_encoder_blocks=2, depths=[1, 1],
                  sr_ratios=[2, 1], hidden_sizes=[8, 16], patch_sizes=[7, 3], strides=[4, 2],
                  num_attention_heads=[1, 2], mlp_ratios=[2, 2]), IMAGE),
    "mobilevit": ("TFMobileViTModel", "MobileViTConfig", dict(num_channels=3, image_size=32, patch_size=2,
                  hidden_sizes=[16, 24, 32], neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 40],
                  num_attention_heads=2), IMAGE),
}


def make(out: str, only: list[str]) -> None:
    import tensorflow as tf  # noqa: F401  (transformers' TF classes need it)
    import transformers as hf

    rng = np.random.default_rng(11)
    ids = rng.integers(3, 99, size=(2, 8)).astype("int32")
    mask = np.ones((2, 8), "int32")
    mask[1, 6:] = 0  # a padded sequence
    for name, (model_name, config_name, settings, kind) in ZOO.items():
        if only and name not in only:
            continue
        try:
            model = getattr(hf, model_name)(getattr(hf, config_name)(**settings))
            if kind == IMAGE:
                inputs = {"pixel_values": rng.normal(size=(2, 3, 32, 32)).astype("float32")}
            elif kind == AUDIO:
                inputs = {"input_values": rng.normal(size=(2, 400)).astype("float32")}
            elif kind == SPEECH2TEXT and "Whisper" in model_name:
                inputs = {"input_features": rng.normal(size=(2, 8, 32)).astype("float32"),
                          "decoder_input_ids": ids[:, :5]}
            elif kind == SPEECH2TEXT:
                inputs = {"input_features": rng.normal(size=(2, 24, 8)).astype("float32"),
                          "decoder_input_ids": ids[:, :5]}
            elif kind == TEXT_IMAGE:
                inputs = {"input_ids": ids, "attention_mask": mask,
                          "pixel_values": rng.normal(size=(2, 3, 32, 32)).astype("float32")}
            elif kind == "mae":  # its patches are masked by the noise given: the same on both sides
                inputs = {"pixel_values": rng.normal(size=(2, 3, 32, 32)).astype("float32"),
                          "noise": rng.uniform(size=(2, 16)).astype("float32")}
            elif kind == "layout":
                corners = np.sort(rng.integers(0, 64, size=(2, 8, 2, 2)), axis=2)  # [low, high] of x and of y
                inputs = {"input_ids": ids, "attention_mask": mask,
                          "bbox": corners.reshape(2, 8, 4).astype("int32")}  # x0, y0, x1, y1
            elif kind == "lxmert":
                inputs = {"input_ids": ids, "attention_mask": mask,
                          "visual_feats": rng.normal(size=(2, 3, 8)).astype("float32"),
                          "visual_pos": rng.uniform(size=(2, 3, 4)).astype("float32")}
            else:
                inputs = {"input_ids": ids, "attention_mask": mask}
                if kind == SEQ2SEQ:
                    inputs["decoder_input_ids"] = ids[:, :5]
            model(inputs, training=False)
            for weight in model.weights:
                if not weight.dtype.is_floating:  # an index table (Swin's relative_position_index), not a weight
                    continue
                value = rng.normal(0, 0.5 if weight.shape.rank == 1 else 0.2, weight.shape)
                if "moving_variance" in weight.name:
                    value = np.abs(value) + 0.1
                weight.assign(value.astype(weight.dtype.as_numpy_dtype))
            result = model(inputs, training=False)
            key = next(key for key in ("logits", "logits_per_image", "itm_score", "last_hidden_state",
                                       "language_output", *result.keys())
                       if getattr(result, key, None) is not None)
            target = os.path.join(out, name)
            model.save_pretrained(target)
            np.savez(os.path.join(target, "io.npz"), **inputs, output=result[key].numpy(), key=np.array(key))
            print(f"made {name}: {model_name}, {key} {tuple(result[key].shape)}", flush=True)
        except Exception as error:  # an architecture this config does not build: said, and skipped
            print(f"not made {name}: {type(error).__name__}: {str(error)[:200]}", flush=True)


def check(zoo: str) -> int:
    import torch
    import transformers

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import converter

    transformers.logging.set_verbosity_error()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="weightport_hf_zoo_") as scratch:
        for name in sorted(os.listdir(zoo)):
            source, out = os.path.join(zoo, name), os.path.join(scratch, name) + "/"
            try:
                converter.convert(source, out)
                config = json.load(open(os.path.join(out, "config.json")))
                model_class = getattr(transformers, config["architectures"][0])
                model, info = model_class.from_pretrained(out, output_loading_info=True)
                loose = {kind: keys for kind, keys in info.items() if keys and kind != "error_msgs"}
                stored = np.load(os.path.join(source, "io.npz"))
                inputs = {key: torch.from_numpy(stored[key]).long() if stored[key].dtype.kind == "i"
                          else torch.from_numpy(stored[key]) for key in stored.files if key not in ("output", "key")}
                with torch.no_grad():
                    got = model.eval()(**inputs)[str(stored["key"])].numpy()
                delta = np.abs(got - stored["output"])
                if "attention_mask" in stored.files and "decoder_input_ids" not in stored.files \
                        and delta.shape[:2] == stored["attention_mask"].shape:
                    delta = delta[stored["attention_mask"].astype(bool)]
                worst = float(delta.max())
                ok = worst <= 1e-5 and not loose
                known = converter.hugging_face.KNOWN_DIFFERENCES.get(config.get("model_type", ""))
                failures += not ok and not known
                verdict = "ok" if ok else f"known: {known}" if known and not loose else "DIFFERS"
                print(f"{name:18} {model_class.__name__:38} max abs {worst:.2e} {verdict} {loose or ''}", flush=True)
            except Exception as error:
                failures += 1
                print(f"{name:18} FAILED {type(error).__name__}: {str(error)[:300]}", flush=True)
            shutil.rmtree(out, ignore_errors=True)
    print(f"{failures} of {len(os.listdir(zoo))} not within 1e-5")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("make", "check"):
        sys.exit(__doc__)
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(check(sys.argv[2]))
