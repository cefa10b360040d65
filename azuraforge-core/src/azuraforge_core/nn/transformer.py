# Numpy's stubs type many array results as Any.
# mypy: disable-error-code="no-any-return"
"""Multi-head attention and the Transformer encoder, with PyTorch's names, defaults and state_dict keys.

The attention itself is one fused node (`F.scaled_dot_product_attention`); these layers add the input and
output projections, the masks and the head bookkeeping around it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from azuraforge_core import functional as F  # noqa: N812 (PyTorch's convention)
from azuraforge_core.nn import init
from azuraforge_core.nn.layers import Dropout, LayerNorm, Linear
from azuraforge_core.nn.module import Module, ModuleList, Parameter
from azuraforge_core.tensor import Array, Tensor

Mask = Tensor | Array | None


def _as_array(mask: Mask) -> Array | None:
    if mask is None:
        return None
    return mask.data if isinstance(mask, Tensor) else np.asarray(mask)


def _blocked_as_additive(mask: Array | None, dtype: np.dtype[Any]) -> Array | None:
    """PyTorch's layer masks mark with True what may NOT be attended to; as an additive mask that is -inf there."""
    if mask is None:
        return None
    if mask.dtype == bool:
        return np.where(mask, dtype.type(-np.inf), dtype.type(0))
    if mask.dtype.kind != "f":
        raise TypeError(f"attention masks must be bool or float, got dtype {mask.dtype}")
    return mask.astype(dtype, copy=False)


class MultiheadAttention(Module):
    """Attention from `num_heads` heads of size embed_dim / num_heads, as torch.nn.MultiheadAttention.

    Parameters: in_proj_weight (3E, E) and in_proj_bias (3E,) hold the query, key and value projections
    stacked; out_proj is a Linear(E, E). Inputs are (batch, seq, E); with batch_first=False, (seq, batch, E).
    batch_first defaults to True, as in this engine's LSTM and GRU (PyTorch's default is False).
    """

    def __init__(
        self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True, batch_first: bool = True
    ) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention needs embed_dim divisible by num_heads, both positive; "
                f"got embed_dim={embed_dim}, num_heads={num_heads}"
            )
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout, self.batch_first = dropout, batch_first
        self.in_proj_weight = Parameter(np.zeros((3 * embed_dim, embed_dim), dtype=np.float32))
        self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dtype=np.float32)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's: xavier-uniform in_proj_weight, zero biases; out_proj.weight keeps Linear's default."""
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
        if self.out_proj.bias is not None:
            init.zeros_(self.out_proj.bias)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Mask = None,
        need_weights: bool = True,
        attn_mask: Mask = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """(output, weights): weights are (N, L, S) averaged over heads, (N, heads, L, S) if not, None unless needed.

        `attn_mask` (L, S) or (N * heads, L, S) and `key_padding_mask` (N, S) mark with True the positions a
        query must not attend to, or are floats added to the scores. `is_causal` without an attn_mask
        applies the causal mask.
        """
        if not self.batch_first:
            self_attention = query is key and key is value
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
            if self_attention:  # keep them one tensor, so the projections stay one matmul
                key = value = query
        if query.ndim != 3 or query.shape[-1] != self.embed_dim:
            layout = "(batch, seq" if self.batch_first else "(seq, batch"
            raise ValueError(
                f"MultiheadAttention expects inputs of shape {layout}, {self.embed_dim}), got {query.shape}"
            )
        N, L, E = query.shape
        S = key.shape[1]
        q, k, v = self._project(query, key, value)
        mask = self._mask(attn_mask, key_padding_mask, is_causal, N, L, S, query.dtype)
        dropout_p = self.dropout if self.training else 0.0
        result = F.scaled_dot_product_attention(q, k, v, mask, dropout_p=dropout_p, need_weights=need_weights)
        heads, weights = result if need_weights else (result, None)
        output: Tensor = self.out_proj(heads.permute(0, 2, 1, 3).reshape(N, L, E))
        if not self.batch_first:
            output = output.transpose(0, 1)
        if weights is not None and average_attn_weights:
            weights = weights.mean(axis=1)
        return output, weights

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values, each (N, heads, seq, head_dim); self-attention projects all three in one matmul."""
        N, H, D, E = query.shape[0], self.num_heads, self.head_dim, self.embed_dim
        weight, bias = self.in_proj_weight, self.in_proj_bias
        if query is key and key is value:
            q, k, v = F.linear(query, weight, bias).reshape(N, -1, 3, H, D).permute(2, 0, 3, 1, 4).unbind()
            return q, k, v
        projected = [
            F.linear(x, weight[i * E : (i + 1) * E], None if bias is None else bias[i * E : (i + 1) * E])
            for i, x in enumerate((query, key, value))
        ]
        q, k, v = (p.reshape(N, -1, H, D).permute(0, 2, 1, 3) for p in projected)
        return q, k, v

    def _mask(
        self, attn_mask: Mask, key_padding_mask: Mask, is_causal: bool, N: int, L: int, S: int, dtype: np.dtype[Any]
    ) -> Array | None:
        """attn_mask and key_padding_mask merged into one additive mask that broadcasts to (N, heads, L, S)."""
        mask = _blocked_as_additive(_as_array(attn_mask), dtype)
        if mask is None and is_causal:
            mask = _blocked_as_additive(np.triu(np.ones((L, S), dtype=bool), k=1), dtype)
        if mask is not None:
            if mask.shape == (N * self.num_heads, L, S):
                mask = mask.reshape(N, self.num_heads, L, S)
            elif mask.shape != (L, S):
                raise ValueError(
                    f"attn_mask must have shape (L, S) = {(L, S)} or (N * num_heads, L, S) = "
                    f"{(N * self.num_heads, L, S)}, got {mask.shape}"
                )
        padding = _blocked_as_additive(_as_array(key_padding_mask), dtype)
        if padding is not None:
            if padding.shape != (N, S):
                raise ValueError(
                    f"key_padding_mask must have shape (batch, source length) = {(N, S)}, got {padding.shape}"
                )
            padding = padding.reshape(N, 1, 1, S)
            mask = padding if mask is None else mask + padding
        return mask

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"


Activation = Literal["relu", "gelu"] | Callable[[Tensor], Tensor]


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual connection, dropout and LayerNorm.

    As torch.nn.TransformerEncoderLayer: norm_first=False normalises after each residual sum (the original
    Transformer), norm_first=True before each block. `activation` is "relu", "gelu" or a callable.
    batch_first defaults to True, as in MultiheadAttention here (PyTorch's default is False).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Activation = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = True,
        norm_first: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        if activation == "relu":
            self.activation: Callable[[Tensor], Tensor] = Tensor.relu
        elif activation == "gelu":
            self.activation = F.gelu
        elif callable(activation):
            self.activation = activation
        else:
            raise ValueError(f'activation must be "relu", "gelu" or a callable, got {activation!r}')

    def forward(
        self, src: Tensor, src_mask: Mask = None, src_key_padding_mask: Mask = None, is_causal: bool = False
    ) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._attention_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._feed_forward_block(self.norm2(x))
        x = self.norm1(x + self._attention_block(x, src_mask, src_key_padding_mask, is_causal))
        result: Tensor = self.norm2(x + self._feed_forward_block(x))
        return result

    def _attention_block(self, x: Tensor, mask: Mask, key_padding_mask: Mask, is_causal: bool) -> Tensor:
        attended, _ = self.self_attn(
            x, x, x, attn_mask=mask, key_padding_mask=key_padding_mask, need_weights=False, is_causal=is_causal
        )
        result: Tensor = self.dropout1(attended)
        return result

    def _feed_forward_block(self, x: Tensor) -> Tensor:
        result: Tensor = self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))
        return result


class TransformerEncoder(Module):
    """`num_layers` independent copies of `encoder_layer` applied in turn, then `norm` if given."""

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        self.layers = ModuleList(copy.deepcopy(encoder_layer) for _ in range(num_layers))
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self, src: Tensor, mask: Mask = None, src_key_padding_mask: Mask = None, is_causal: bool = False
    ) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=is_causal)
        if self.norm is not None:
            x = self.norm(x)
        return x
