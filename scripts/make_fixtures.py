"""Generate Hearth's tiny model fixtures (real Hugging Face formats, random weights): the embedders below, then the
Llama decoder of scripts/fixtures_llama.py (public/models/hearth-tiny-llama/, tests/fixtures/llm/reference.json).

Run from the repository root (needs Debian's python3-torch, python3-onnx, python3-numpy):

    /usr/bin/python3 scripts/make_fixtures.py        # or: npm run fixtures

It writes, deterministically (fixed seeds):

  public/models/hearth-tiny-embed/       hidden 64, 2 layers, 4 heads, mean pooling, Matryoshka-capable
  public/models/hearth-tiny-embed-cls/   hidden 32, 1 layer,  2 heads, CLS pooling
      model.onnx              BERT encoder, opset 17, IR version 8, single file.
                              inputs  input_ids, attention_mask, token_type_ids  int64 [batch, seq]
                              output  last_hidden_state                          float32 [batch, seq, hidden]
                              (the same I/O names as the real nomic-embed-text-v1.5 / gte-base exports)
      tokenizer.json          hand-built WordPiece tokenizer in the `tokenizers` JSON format
      tokenizer_config.json   BertTokenizer settings (model_max_length = max_position_embeddings)
      config.json             HF-style BertModel config
      1_Pooling/config.json   sentence-transformers pooling config (mean or CLS)

  tests/fixtures/embeddings/reference.json
      per model: token ids (from an independent Python BERT tokenizer) and the pooled, L2-normalised
      embeddings computed in torch, plus (first model) one padded batch that must equal the single runs.

The script checks: onnx.checker on each model; torch vs the exported graph (run by onnxruntime when importable,
else by a small numpy interpreter of the graph's ops) on single inputs and on a padded batch; batch == single.
"""

import json
import math
import os
import random
import sys
import unicodedata

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(ROOT, "public", "models")
REF_DIR = os.path.join(ROOT, "tests", "fixtures", "embeddings")

OPSET = 17
IR_VERSION = 8
MASK_NEG = -10000.0  # additive attention bias on padded keys (exp(-1e4) == 0 in float32)
LN_EPS = 1e-12

# --------------------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------------------

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

WORDS = """
the a an and or but if then so of to in on at by for with from as is are was were be been being am
it its it's this that these those there here he she they we you i me my your our their his her them us
not no yes do does did done have has had will would can could should may might must shall
what which who whom whose when where why how all any each every some many much more most few less least
one two three four five six seven eight nine ten hundred thousand million first second last next new old
good great best better bad worse big small large little long short high low fast slow quick early late
hot cold warm cool happy sad easy hard right left same other own just only also very too again still ever never
quick brown fox jump over lazy dog cat bird fish horse cow animal tree forest river sea ocean mountain sky
sun moon star rain snow wind cloud weather day night morning evening week month year time today tomorrow
food was delicious and waiter friend restaurant dinner lunch breakfast coffee tea milk bread cheese wine water
cafe menu order price cheap service table chef cook eat drink taste sweet salt
hello world thank thanks please sorry welcome hi bye name people person man woman child children family
house home room door window city town country street road car bus train plane ship trip travel
work job company market money business bank pay buy sell cost spend
computer machine learn learning model models data code program language text word words sentence
search query document documents question answer embed vector vectors search index similar similarity
web browser gpu cpu memory fast speed server client request response api test tests fire works hearth
make made take took give gave go went come came see saw know knew think thought say said tell told
find found use used want need like love feel try call ask ran run walk talk read write wrote play open close
start stop begin end keep let put set turn show hear help move live believe bring happen hold stand
about after before under between through during without within into onto up down out off above below
number part place case point group problem fact hand eye life way thing example idea story book page
reason smile maybe because while until since though although however therefore
red green blue black white yellow orange color light dark
science history music art film game sport health school student teacher class lesson
able possible real true false simple clear full free open public private important different
un re pre dis in
""".split()

SUBWORDS = """
##s ##es ##ed ##ing ##er ##ers ##est ##ly ##tion ##tions ##ment ##ments ##ness ##able ##ful ##less
##ize ##ized ##ization ##al ##ity ##ous ##ive ##ist ##ism ##ish ##en ##ance ##ence ##ant ##ent
##ding ##dings ##fer ##ence ##gpu ##web ##ly ##ier ##iest ##ible ##ial ##ic ##ical ##age ##ure
##pp ##ll ##ss ##tt ##nn ##mm ##rr ##th ##ch ##sh ##ph ##qu ##ck ##ng
##an ##ar ##at ##el ##et ##in ##is ##it ##le ##on ##or ##ra ##re ##ri ##ro ##te ##ti ##to ##ur ##us
##24 ##00 ##14
""".split()


def build_vocab():
    toks = list(SPECIALS)
    toks += [chr(c) for c in range(0x21, 0x7F)]  # every printable (non-space) ASCII char
    toks += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    toks += WORDS + SUBWORDS
    seen, vocab = set(), {}
    for t in toks:
        if t not in seen:
            seen.add(t)
            vocab[t] = len(vocab)
    return vocab


# --------------------------------------------------------------------------------------------------------------
# Independent minimal BERT tokenizer (mirrors HF BertNormalizer + BertPreTokenizer + WordPiece)
# --------------------------------------------------------------------------------------------------------------


def _is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs")


def _is_whitespace(ch):
    return ch.isspace() or unicodedata.category(ch) == "Zs"


def _is_punct(ch):
    cp = ord(ch)
    if 0x21 <= cp <= 0x2F or 0x3A <= cp <= 0x40 or 0x5B <= cp <= 0x60 or 0x7B <= cp <= 0x7E:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_chinese(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F)


def bert_normalize(text):
    out = []
    for ch in text:  # clean_text
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        out.append(" " if _is_whitespace(ch) else ch)
    out2 = []
    for ch in out:  # handle_chinese_chars
        out2.extend([" ", ch, " "] if _is_chinese(ord(ch)) else [ch])
    text = "".join(out2).lower()
    # strip_accents null + lowercase true => accents are stripped (NFD, drop Mn)
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return text


def bert_pre_tokenize(text):
    words, cur = [], []
    for ch in text:
        if _is_whitespace(ch):
            if cur:
                words.append("".join(cur))
                cur = []
        elif _is_punct(ch):
            if cur:
                words.append("".join(cur))
                cur = []
            words.append(ch)
        else:
            cur.append(ch)
    if cur:
        words.append("".join(cur))
    return words


def wordpiece(word, vocab, max_chars=100):
    if len(word) > max_chars:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end, cur = len(word), None
        while start < end:
            sub = word[start:end]
            if start > 0:
                sub = "##" + sub
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return ["[UNK]"]
        pieces.append(cur)
        start = end
    return pieces


def tokenize(text, vocab, max_len):
    toks = []
    for w in bert_pre_tokenize(bert_normalize(text)):
        toks.extend(wordpiece(w, vocab))
    ids = [vocab[t] for t in toks]
    ids = ids[: max_len - 2]  # truncate, keeping room for [CLS] and the final [SEP]
    return [vocab["[CLS]"]] + ids + [vocab["[SEP]"]], len(toks) + 2


def tokenizer_json(vocab):
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for t in SPECIALS
        ],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [cls_id], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [sep_id], "tokens": ["[SEP]"]},
            },
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


# --------------------------------------------------------------------------------------------------------------
# Tiny BERT in plain torch
# --------------------------------------------------------------------------------------------------------------


class Layer(nn.Module):
    def __init__(self, h, heads, inter):
        super().__init__()
        self.heads, self.hd = heads, h // heads
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.attn_out = nn.Linear(h, h)
        self.attn_ln = nn.LayerNorm(h, eps=LN_EPS)
        self.intermediate = nn.Linear(h, inter)
        self.output = nn.Linear(inter, h)
        self.out_ln = nn.LayerNorm(h, eps=LN_EPS)

    def split(self, x):  # [b, s, h] -> [b, heads, s, hd]
        b, s = x.shape[0], x.shape[1]
        return x.view(b, s, self.heads, self.hd).transpose(1, 2)

    def forward(self, x, bias):
        b, s = x.shape[0], x.shape[1]
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.hd) + bias
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(b, s, self.heads * self.hd)
        x = self.attn_ln(x + self.attn_out(ctx))
        return self.out_ln(x + self.output(F.gelu(self.intermediate(x))))


class TinyBert(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], h)
        self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], h)
        self.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], h)
        self.emb_ln = nn.LayerNorm(h, eps=LN_EPS)
        self.register_buffer("position_ids", torch.arange(cfg["max_position_embeddings"]).unsqueeze(0),
                             persistent=False)
        self.layers = nn.ModuleList(
            [Layer(h, cfg["num_attention_heads"], cfg["intermediate_size"]) for _ in range(cfg["num_hidden_layers"])])

    def forward(self, input_ids, attention_mask, token_type_ids):
        # like HF BertEmbeddings: slice a constant position_ids buffer to the (dynamic) sequence length
        position_ids = self.position_ids[:, : input_ids.shape[1]]
        x = self.word_embeddings(input_ids) + self.position_embeddings(position_ids) \
            + self.token_type_embeddings(token_type_ids)
        x = self.emb_ln(x)
        bias = (1.0 - attention_mask.to(torch.float32)).unsqueeze(1).unsqueeze(2) * MASK_NEG  # [b,1,1,s]
        for layer in self.layers:
            x = layer(x, bias)
        return x


def init_weights(model, seed):
    g = torch.Generator().manual_seed(seed)

    def normal(t, std, mean=0.0):
        with torch.no_grad():
            t.copy_(torch.randn(t.shape, generator=g) * std + mean)

    with torch.no_grad():
        normal(model.word_embeddings.weight, 1.0)
        normal(model.position_embeddings.weight, 0.5)
        normal(model.token_type_embeddings.weight, 0.2)
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                normal(m.weight, 0.1, 1.0)
                normal(m.bias, 0.1)
            elif isinstance(m, nn.Linear):
                normal(m.weight, 1.0 / math.sqrt(m.in_features))
                normal(m.bias, 0.05)
        for layer in model.layers:  # sharper attention so the mask and positions matter
            layer.query.weight.mul_(2.0)
            layer.key.weight.mul_(2.0)


def pool(hidden, mask, pooling):
    """hidden [b,s,h] float32 tensor, mask [b,s] -> L2-normalised float64 numpy [b,h]."""
    hd = hidden.detach().double()
    m = mask.double().unsqueeze(-1)
    if pooling == "mean":
        v = (hd * m).sum(1) / m.sum(1).clamp(min=1e-9)
    else:
        v = hd[:, 0]
    return F.normalize(v, p=2, dim=-1).numpy()


# --------------------------------------------------------------------------------------------------------------
# Graph check: onnxruntime when importable, else a small numpy interpreter for the ops this export uses
# --------------------------------------------------------------------------------------------------------------


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _np_dtype(onnx_type):
    if hasattr(onnx.helper, "tensor_dtype_to_np_dtype"):
        return onnx.helper.tensor_dtype_to_np_dtype(onnx_type)
    return onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[onnx_type]


def _erf(x):
    try:
        from scipy.special import erf  # noqa: PLC0415
        return erf(x).astype(x.dtype)
    except ImportError:
        return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


def numpy_run(model, feeds):
    env = dict(feeds)
    for init in model.graph.initializer:
        env[init.name] = numpy_helper.to_array(init)
    for n in model.graph.node:
        i = [env[x] if x else None for x in n.input]
        op = n.op_type
        if op == "Constant":
            out = numpy_helper.to_array(_attr(n, "value"))
        elif op == "Gather":
            out = np.take(i[0], i[1], axis=_attr(n, "axis", 0))
        elif op in ("Add", "Sub", "Mul", "Div", "Pow", "Equal", "Where", "Sqrt", "Erf", "Neg", "Identity"):
            f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power, "Equal": np.equal,
                 "Sqrt": np.sqrt, "Neg": np.negative, "Identity": lambda x: x, "Erf": _erf,
                 "Div": lambda a, b: (a // b) if np.issubdtype(a.dtype, np.integer) else a / b,
                 "Where": np.where}[op]
            out = f(*i)
            if op in ("Add", "Sub", "Mul", "Div", "Pow") and i[0].dtype != out.dtype:
                out = out.astype(i[0].dtype)
        elif op == "MatMul":
            out = np.matmul(i[0], i[1])
        elif op == "Gemm":
            a = i[0].T if _attr(n, "transA", 0) else i[0]
            b = i[1].T if _attr(n, "transB", 0) else i[1]
            out = _attr(n, "alpha", 1.0) * (a @ b) + (_attr(n, "beta", 1.0) * i[2] if len(i) > 2 else 0)
        elif op == "Softmax":
            ax = _attr(n, "axis", -1)
            e = np.exp(i[0] - i[0].max(axis=ax, keepdims=True))
            out = e / e.sum(axis=ax, keepdims=True)
        elif op == "LayerNormalization":
            ax = _attr(n, "axis", -1)
            eps = _attr(n, "epsilon", 1e-5)
            axes = tuple(range(ax % i[0].ndim, i[0].ndim))
            mu = i[0].mean(axis=axes, keepdims=True)
            var = ((i[0] - mu) ** 2).mean(axis=axes, keepdims=True)
            out = (i[0] - mu) / np.sqrt(var + eps) * i[1] + (i[2] if len(i) > 2 and i[2] is not None else 0)
        elif op == "ReduceMean":
            out = i[0].mean(axis=tuple(_attr(n, "axes")), keepdims=bool(_attr(n, "keepdims", 1)))
        elif op == "Shape":
            out = np.array(i[0].shape, dtype=np.int64)
        elif op == "Reshape":
            shape = [d if d != 0 else i[0].shape[k] for k, d in enumerate(i[1].tolist())]
            out = i[0].reshape(shape)
        elif op == "Transpose":
            out = np.transpose(i[0], _attr(n, "perm"))
        elif op == "Unsqueeze":
            out = i[0]
            for a in sorted(int(a) % (out.ndim + 1) for a in i[1].tolist()):
                out = np.expand_dims(out, a)
        elif op == "Squeeze":
            out = np.squeeze(i[0], axis=tuple(i[1].tolist())) if len(i) > 1 else np.squeeze(i[0])
        elif op == "Concat":
            out = np.concatenate(i, axis=_attr(n, "axis"))
        elif op == "Cast":
            to = _attr(n, "to")
            out = i[0].astype(_np_dtype(to))
        elif op == "ConstantOfShape":
            v = _attr(n, "value")
            val = numpy_helper.to_array(v) if v is not None else np.zeros(1, np.float32)
            out = np.full(i[0].tolist(), val.reshape(-1)[0], dtype=val.dtype)
        elif op == "CumSum":
            out = np.cumsum(i[0], axis=int(i[1])).astype(i[0].dtype)
        elif op == "Slice":
            starts, ends = i[1].tolist(), i[2].tolist()
            axes = i[3].tolist() if len(i) > 3 and i[3] is not None else list(range(len(starts)))
            steps = i[4].tolist() if len(i) > 4 and i[4] is not None else [1] * len(starts)
            sl = [slice(None)] * i[0].ndim
            for s, e, a, st in zip(starts, ends, axes, steps):
                sl[a] = slice(s, e, st)
            out = i[0][tuple(sl)]
        else:
            raise NotImplementedError(op)
        env[n.output[0]] = np.asarray(out)
    return [env[o.name] for o in model.graph.output]


def run_graph(path, model, feeds):
    try:
        import onnxruntime as ort  # noqa: PLC0415
        return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)[0], "onnxruntime"
    except ImportError:
        return numpy_run(model, feeds)[0], "numpy interpreter"


# --------------------------------------------------------------------------------------------------------------
# Texts
# --------------------------------------------------------------------------------------------------------------

LONG_SENTENCES = [
    "The quick brown fox jumps over the lazy dog again and again.",
    "Every morning the chef made fresh bread and strong coffee for the family.",
    "We searched the documents for similar sentences and found many good examples.",
    "Machine learning models turn words into vectors so that search can find meaning.",
    "The train to the city was late, so the people walked along the river instead.",
    "In the evening the sky turned orange, then dark blue, and the first star appeared.",
    "A small cat watched the birds in the tree while the children played outside.",
    "The waiter was friendly, the food was delicious, and the price was fair.",
    "Students asked the teacher how the computer could read a whole book in one second.",
    "Rain and wind kept everyone at home, reading stories and drinking hot tea.",
    "The company wanted a faster browser, so the engineers moved the model to the gpu.",
    "Nobody knew the answer, but everyone had an idea about the reason.",
]


def long_text(seed, min_words=400):
    rng = random.Random(seed)
    out = []
    while sum(len(s.split()) for s in out) < min_words:
        out.append(rng.choice(LONG_SENTENCES))
    return " ".join(out)


CASES = [
    "The quick brown fox jumps over the lazy dog.",
    "The food was delicious and the waiter was very friendly.",
    "Hello, world! It's 2024: we have 3.14 reasons (maybe 42) to smile; see page #7.",
    "WebGPU Makes INFERENCE Fast In The BROWSER",
    "I ordered a caf\u00e9 au lait in Z\u00fcrich \U0001F600 na\u00efve r\u00e9sum\u00e9 stra\u00dfe",
    "search_query: how do embeddings work?",
    "Unbelievably unpredictable tokenization of "
    + "pneumonoultramicroscopicsilicovolcanoconiosis" * 3
    + " and\ttabs\nnewlines.",
    long_text(1234),
]

MODELS = [
    {
        "name": "hearth-tiny-embed",
        "seed": 1001,
        "pooling": "mean",
        "matryoshka": True,
        "config": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
                   "max_position_embeddings": 128},
        "batch": True,
    },
    {
        "name": "hearth-tiny-embed-cls",
        "seed": 2002,
        "pooling": "cls",
        "matryoshka": False,
        "config": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
                   "max_position_embeddings": 64},
        "batch": False,
    },
]


def r7(x):
    return float(f"{float(x):.7g}")


def vec7(v):
    return [r7(x) for x in v]


def write_json(path, obj, compact=False):
    with open(path, "w", encoding="utf-8") as f:
        if compact:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        else:
            json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def t64(rows):
    return torch.tensor(rows, dtype=torch.int64)


def build_model(spec, vocab):
    name = spec["name"]
    out_dir = os.path.join(MODELS_DIR, name)
    os.makedirs(os.path.join(out_dir, "1_Pooling"), exist_ok=True)
    c = spec["config"]
    cfg = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": c["hidden_size"],
        "num_hidden_layers": c["num_hidden_layers"],
        "num_attention_heads": c["num_attention_heads"],
        "intermediate_size": c["intermediate_size"],
        "hidden_act": "gelu",
        "max_position_embeddings": c["max_position_embeddings"],
        "vocab_size": len(vocab),
        "type_vocab_size": 2,
        "layer_norm_eps": LN_EPS,
        "pad_token_id": vocab["[PAD]"],
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }
    max_tokens = cfg["max_position_embeddings"]

    torch.manual_seed(spec["seed"])
    model = TinyBert(cfg).eval()
    init_weights(model, spec["seed"])

    # ---- files -------------------------------------------------------------------------------------------------
    write_json(os.path.join(out_dir, "config.json"), cfg)
    write_json(os.path.join(out_dir, "tokenizer.json"), tokenizer_json(vocab))
    write_json(os.path.join(out_dir, "tokenizer_config.json"), {
        "model_max_length": max_tokens, "do_lower_case": True, "cls_token": "[CLS]", "sep_token": "[SEP]",
        "pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]", "tokenizer_class": "BertTokenizer"})
    write_json(os.path.join(out_dir, "1_Pooling", "config.json"), {
        "word_embedding_dimension": cfg["hidden_size"],
        "pooling_mode_cls_token": spec["pooling"] == "cls",
        "pooling_mode_mean_tokens": spec["pooling"] == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False})

    onnx_path = os.path.join(out_dir, "model.onnx")
    dummy = t64([[2, 10, 11, 12, 3], [2, 13, 3, 0, 0]])
    dmask = t64([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    axes = {0: "batch_size", 1: "sequence_length"}
    with torch.no_grad():
        torch.onnx.export(
            model, (dummy, dmask, torch.zeros_like(dummy)), onnx_path,
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                          "last_hidden_state": axes},
            opset_version=OPSET, do_constant_folding=True)
    om = onnx.load(onnx_path)
    om.ir_version = IR_VERSION
    om.producer_name = "hearth/scripts/make_fixtures.py"
    onnx.save(om, onnx_path)
    om = onnx.load(onnx_path)
    onnx.checker.check_model(om, full_check=True)
    assert [i.name for i in om.graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    assert [o.name for o in om.graph.output] == ["last_hidden_state"]
    assert om.opset_import[0].version == OPSET and om.ir_version == IR_VERSION
    ops = sorted({n.op_type for n in om.graph.node})

    # ---- references ----------------------------------------------------------------------------------------------
    cases, graph_err, runner = [], 0.0, None
    for text in CASES:
        ids, full_len = tokenize(text, vocab, max_tokens)
        x = t64([ids])
        m = torch.ones_like(x)
        with torch.no_grad():
            hid = model(x, m, torch.zeros_like(x))
        emb = pool(hid, m, spec["pooling"])[0]
        feeds = {"input_ids": x.numpy(), "attention_mask": m.numpy(), "token_type_ids": np.zeros_like(x.numpy())}
        got, runner = run_graph(onnx_path, om, feeds)
        graph_err = max(graph_err, float(np.abs(got - hid.numpy()).max()))
        cases.append({"text": text, "untruncated_length": full_len, "input_ids": ids, "embedding": vec7(emb)})

    ref = {
        "model_dir": f"public/models/{name}",
        "hidden_size": cfg["hidden_size"],
        "max_tokens": max_tokens,
        "vocab_size": len(vocab),
        "pooling": spec["pooling"],
        "normalize": True,
        "matryoshka": spec["matryoshka"],
        "cases": cases,
    }

    if spec["batch"]:
        rows = [c["input_ids"] for c in cases[:4]]
        width = max(len(r) for r in rows)
        ids = t64([r + [vocab["[PAD]"]] * (width - len(r)) for r in rows])
        mask = t64([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        with torch.no_grad():
            hid = model(ids, mask, torch.zeros_like(ids))
        embs = pool(hid, mask, spec["pooling"])
        for k, row in enumerate(rows):
            single = np.array(cases[k]["embedding"])
            d = float(np.abs(embs[k] - single).max())
            assert d < 1e-5, f"{name}: batch row {k} differs from single run by {d}"
        feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy(), "token_type_ids": np.zeros_like(ids.numpy())}
        got, _ = run_graph(onnx_path, om, feeds)
        valid = mask.numpy().astype(bool)
        graph_err = max(graph_err, float(np.abs(got - hid.numpy())[valid].max()))
        ref["batch"] = {
            "texts": [c["text"] for c in cases[:4]],
            "input_ids": ids.tolist(),
            "attention_mask": mask.tolist(),
            "token_type_ids": torch.zeros_like(ids).tolist(),
            "embeddings": [vec7(e) for e in embs],
        }

    assert graph_err < 1e-4, f"{name}: ONNX graph vs torch max abs diff {graph_err}"
    embs = np.array([c["embedding"] for c in cases])
    cos = embs @ embs.T
    off = cos[~np.eye(len(cases), dtype=bool)]
    assert off.max() < 0.999, f"{name}: embeddings look degenerate (max cos {off.max()})"
    print(f"{name}: vocab {len(vocab)}, onnx {os.path.getsize(onnx_path)} bytes, ops {ops}")
    print(f"  graph ({runner}) vs torch max |diff| {graph_err:.2e}; pairwise cosine "
          f"min {off.min():.3f} mean {off.mean():.3f} max {off.max():.3f}")
    for c in cases:
        print(f"  {len(c['input_ids']):4d}/{c['untruncated_length']:4d} tokens  {c['text'][:60]!r}")
    return ref


def main():
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    vocab = build_vocab()
    os.makedirs(REF_DIR, exist_ok=True)
    refs = {spec["name"]: build_model(spec, vocab) for spec in MODELS}
    write_json(os.path.join(REF_DIR, "reference.json"), refs, compact=True)
    for spec in MODELS:
        d = os.path.join(MODELS_DIR, spec["name"])
        for f in ("model.onnx", "tokenizer.json", "tokenizer_config.json", "config.json"):
            size = os.path.getsize(os.path.join(d, f))
            assert size < 1_000_000, f"{d}/{f} is {size} bytes"
    print("wrote", os.path.relpath(os.path.join(REF_DIR, "reference.json"), ROOT))

    import fixtures_llama  # noqa: PLC0415  (scripts/ is on sys.path when this file runs as a script)
    fixtures_llama.build()
    __import__("fixtures_llama_f16").build()  # q4f16-style float16 KV/logits I/O (model_q4f16.onnx), reference-q4f16.json
    __import__("fixtures_llama_safetensors").build()  # BF16 / F16 model.safetensors, tests/fixtures/llm-safetensors/

    import fixtures_sdxl  # noqa: PLC0415  (tiny SDXL parts: public/models/hearth-tiny-sdxl/, tests/fixtures/sdxl/)
    fixtures_sdxl.build()
    __import__("fixtures_sdxl_lora").build()  # LoRA adapters (public/hub/hearth/tiny-sdxl-lora/), lora-reference.json
    __import__("fixtures_safety").build()  # safety checker (hearth-tiny-sdxl/safety_checker/), safety-reference.json
    __import__("fixtures_turbo").build()  # SDXL-Turbo / SD-Turbo export layouts (hearth-tiny-*-turbo/), turbo-reference.json
    return 0


if __name__ == "__main__":
    sys.exit(main())
