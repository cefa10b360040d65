"""Conv2D and MaxPool2D against PyTorch: values, every gradient, ties, state_dict interop and input errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import check_finite_differences, compare_with_torch, grad_of
from torch.nn.functional import conv2d, max_pool2d

import azuraforge_core as af
from azuraforge_core import Tensor, nn, no_grad
from azuraforge_core.nn import conv
from azuraforge_core.nn.buffers import BufferPool
from azuraforge_core.nn.conv import Conv2DFunction, MaxPool2DFunction

# (x shape, out channels, kernel, stride, padding)
CONVOLUTIONS = [
    pytest.param((2, 3, 7, 6), 4, (3, 3), (1, 1), (0, 0), id="3x3"),
    pytest.param((2, 3, 7, 6), 4, (3, 2), (2, 1), (1, 2), id="non-square-kernel-stride-padding"),
    pytest.param((1, 1, 5, 5), 2, (1, 1), (2, 2), (0, 0), id="batch1-1x1-stride2"),
    pytest.param((3, 2, 9, 8), 5, (3, 3), (2, 2), (1, 1), id="stride2-pad1-odd"),
    pytest.param((2, 3, 8, 8), 4, (5, 5), (3, 2), (2, 0), id="5x5-uneven-stride"),
    pytest.param((4, 8, 14, 14), 16, (3, 3), (1, 1), (1, 1), id="same-padding"),
    pytest.param((2, 2, 4, 4), 3, (4, 4), (1, 1), (0, 0), id="kernel-covers-input"),
    # Rows share their padding (see _WideGrid): padding wider than the kernel, strides longer than the kernel.
    pytest.param((2, 2, 6, 7), 3, (2, 2), (3, 3), (2, 3), id="padding-and-stride-beyond-kernel"),
    pytest.param((2, 3, 5, 9), 2, (3, 1), (1, 1), (2, 4), id="1-wide-kernel-wide-padding"),
]


CHOOSE_LAYOUT = conv._merged_layout  # the module's choice, before the fixture below replaces it


@pytest.mark.parametrize(
    ("threads", "rows", "merged"),
    [(1, 145, False), (1, 289, True), (2, 73, False), (2, 145, True)],
)
def test_layout_follows_the_thread_count_and_the_column_rows(monkeypatch, threads, rows, merged):
    monkeypatch.setattr(conv, "get_num_threads", lambda: threads)
    assert CHOOSE_LAYOUT(rows) is merged


@pytest.fixture(autouse=True, params=[False, True], ids=["per-sample-products", "one-product"])
def column_layout(request, monkeypatch):
    """Every test with both layouts of the convolution's columns, whatever this machine's thread count picks."""
    monkeypatch.setattr(conv, "_merged_layout", lambda rows: request.param)


@pytest.mark.parametrize(("x_shape", "out_channels", "kernel", "stride", "padding"), CONVOLUTIONS)
def test_conv_matches_torch_values_and_gradients(x_shape, out_channels, kernel, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(np.float32)
    fan_in = x_shape[1] * kernel[0] * kernel[1]
    weight = (rng.standard_normal((out_channels, x_shape[1], *kernel)) / np.sqrt(fan_in)).astype(np.float32)
    bias = rng.standard_normal(out_channels).astype(np.float32)
    compare_with_torch(
        lambda x, w, b: Conv2DFunction.apply(x, w, b, stride=stride, padding=padding),
        lambda x, w, b: conv2d(x, w, b, stride=stride, padding=padding),
        [x, weight, bias],
        rtol=1e-4,
        atol=1e-4,  # weight gradients sum hundreds of float32 products
    )


def test_conv_without_bias_matches_torch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    weight = rng.standard_normal((4, 3, 2, 3)).astype(np.float32)
    compare_with_torch(
        lambda x, w: Conv2DFunction.apply(x, w, None, stride=(1, 2), padding=(1, 0)),
        lambda x, w: conv2d(x, w, None, stride=(1, 2), padding=(1, 0)),
        [x, weight],
        rtol=1e-4,
        atol=1e-5,
    )


def test_conv_finite_differences_float64():
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)]
    check_finite_differences(lambda x, w, b: Conv2DFunction.apply(x, w, b, stride=(2, 1), padding=(1, 1)), arrays)


def test_conv_module_state_dict_round_trips_with_torch():
    torch.manual_seed(0)
    theirs = torch.nn.Conv2d(3, 5, (3, 2), stride=2, padding=1)
    ours = nn.Conv2D(3, 5, (3, 2), stride=2, padding=1)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()
    ]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((2, 3, 9, 7)).astype(np.float32)
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    with no_grad():
        np.testing.assert_allclose(ours(Tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-5)
    # And the reverse: our (re-initialised) weights load into PyTorch unchanged.
    ours.reset_parameters()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    with no_grad():
        np.testing.assert_allclose(
            ours(Tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-5
        )


def test_conv_module_gradients_reach_weight_and_bias_in_float32():
    af.manual_seed(0)
    layer = nn.Conv2D(2, 3, 3, padding=1)
    x = Tensor(np.random.default_rng(4).standard_normal((2, 2, 5, 5)).astype(np.float32))
    out = layer(x)
    assert out.shape == (2, 3, 5, 5)
    assert out.dtype == np.float32
    (out * out).sum().backward()
    assert x.grad is None  # the input needs no gradient, so none is computed
    assert layer.bias is not None
    assert grad_of(layer.weight).dtype == np.float32
    assert grad_of(layer.weight).shape == (3, 2, 3, 3)
    assert grad_of(layer.bias).shape == (3,)
    assert np.abs(grad_of(layer.weight)).sum() > 0


def test_conv_default_init_follows_torch_bounds():
    af.manual_seed(0)
    layer = nn.Conv2D(4, 64, (3, 5))
    assert layer.bias is not None
    bound = 1 / np.sqrt(4 * 3 * 5)  # kaiming_uniform(a=sqrt(5)) and the bias share this bound
    for value in (layer.weight.numpy(), layer.bias.numpy()):
        assert value.dtype == np.float32
        assert np.abs(value).max() <= bound
        assert np.abs(value).max() > 0.8 * bound


def test_conv_wrong_rank_and_channels_are_clear_errors():
    layer = nn.Conv2D(3, 4, 3)
    with pytest.raises(ValueError, match=r"\(batch, channels, height, width\), got shape \(3, 8, 8\)"):
        layer(Tensor(np.zeros((3, 8, 8), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"in_channels=3.*\(2, 1, 8, 8\) with 1 channels"):
        layer(Tensor(np.zeros((2, 1, 8, 8), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"kernel \(3, 3\) is larger than the \(padded\) input \(2, 8\)"):
        layer(Tensor(np.zeros((2, 3, 2, 8), dtype=np.float32)))
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        nn.Conv2D(3, 4, 3, stride=0)


# (x shape, kernel, stride)
POOLS = [
    pytest.param((2, 3, 8, 8), (2, 2), (2, 2), id="2x2"),
    pytest.param((2, 3, 9, 7), (2, 2), (2, 2), id="odd-size-drops-remainder"),
    pytest.param((2, 3, 9, 7), (3, 3), (2, 2), id="overlapping"),
    pytest.param((1, 2, 9, 7), (3, 2), (1, 2), id="non-square-stride1"),
    pytest.param((1, 1, 5, 5), (5, 5), (5, 5), id="global"),
    pytest.param((1, 2, 40, 40), (20, 17), (3, 5), id="window-of-340"),
    pytest.param((2, 3, 6, 9), (2, 2), (3, 3), id="gaps-between-windows"),
    pytest.param((2, 3, 5, 6), (1, 1), (2, 2), id="1x1-windows"),
    pytest.param((2, 3, 7, 8), (3, 1), (2, 1), id="three-entrants"),
]


@pytest.mark.parametrize(("x_shape", "kernel", "stride"), POOLS)
def test_max_pool_matches_torch(x_shape, kernel, stride):
    x = np.random.default_rng(5).standard_normal(x_shape).astype(np.float32)
    compare_with_torch(
        lambda x: MaxPool2DFunction.apply(x, kernel=kernel, stride=stride),
        lambda x: max_pool2d(x, kernel, stride),
        [x],
    )


@pytest.mark.parametrize(("x_shape", "kernel", "stride"), POOLS)
def test_max_pool_ties_send_the_gradient_where_torch_does(x_shape, kernel, stride):
    # Values from {0, 1, 2}: most windows hold several equal maxima.
    x = np.random.default_rng(6).integers(0, 3, x_shape).astype(np.float32)
    compare_with_torch(
        lambda x: MaxPool2DFunction.apply(x, kernel=kernel, stride=stride),
        lambda x: max_pool2d(x, kernel, stride),
        [x],
    )


def test_max_pool_gradient_is_exactly_zero_between_windows():
    # Stride 3 over 2x2 windows leaves every third row and column out of every window; this once read
    # uninitialised memory there. Freed junk of the same size makes such a read show.
    junk = np.full((2, 3, 6, 9), 7e7, dtype=np.float32)
    del junk
    x = Tensor(np.random.default_rng(8).standard_normal((2, 3, 6, 9)).astype(np.float32), requires_grad=True)
    MaxPool2DFunction.apply(x, kernel=(2, 2), stride=(3, 3)).sum().backward()
    grad = grad_of(x)
    assert not grad[:, :, 2::3].any()
    assert not grad[:, :, :, 2::3].any()
    assert grad.sum() == 2 * 3 * 2 * 3


def test_max_pool_tie_goes_to_the_first_maximum_in_the_window():
    x = Tensor(np.array([[[[1.0, 3.0], [3.0, 3.0]]]], dtype=np.float32), requires_grad=True)
    pool = nn.MaxPool2D(2)
    out = pool(x)
    out.backward(np.array([[[[5.0]]]], dtype=np.float32))
    np.testing.assert_array_equal(grad_of(x), [[[[0.0, 5.0], [0.0, 0.0]]]])
    assert out.dtype == np.float32


def test_max_pool_after_relu_ties_at_zero_go_where_torch_sends_them():
    # After a ReLU whole windows are 0: every position ties, and only the first may get the gradient.
    x = np.maximum(np.random.default_rng(9).standard_normal((4, 3, 8, 10)), 0).astype(np.float32)
    compare_with_torch(
        lambda x: MaxPool2DFunction.apply(x, kernel=(2, 2), stride=(2, 2)),
        lambda x: max_pool2d(x, (2, 2), (2, 2)),
        [x],
    )


def _relu_then_pool_inputs() -> np.ndarray:
    """Windows of every kind a ReLU before a max-pool meets: mixed signs, all negative, ties at zero (exact zeros
    in the input), ties between positive values, and a NaN."""
    x = np.random.default_rng(12).standard_normal((2, 3, 6, 8)).astype(np.float32)
    x[0, 0, :2, :2] = -np.abs(x[0, 0, :2, :2])
    x[0, 1, :2, :2] = [[-1.0, 0.0], [0.0, -2.0]]
    x[0, 2, 2:4, 2:4] = [[0.5, 2.0], [2.0, 2.0]]
    x[1, 0, 4, 5] = np.nan
    return x


@pytest.mark.parametrize("kernel", [2, 3])
def test_sequential_runs_a_max_pool_before_the_relu_it_follows_with_torchs_results(kernel):
    x = _relu_then_pool_inputs()
    ours_in, theirs_in = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours = nn.Sequential(nn.ReLU(), nn.MaxPool2D(kernel))(ours_in)
    theirs = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.MaxPool2d(kernel))(theirs_in)
    assert type(ours._ctx).__name__ == "Relu"  # the ReLU ran last, over the pooled values
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())
    seed = np.random.default_rng(13).standard_normal(ours.shape).astype(np.float32)
    ours.backward(seed)
    theirs.backward(torch.tensor(seed))
    assert theirs_in.grad is not None
    np.testing.assert_array_equal(grad_of(ours_in), theirs_in.grad.numpy())


def test_sequential_keeps_the_written_order_for_subclasses_and_other_neighbours():
    class CountingPool(nn.MaxPool2D):  # a subclass may compute something else: it is not reordered
        pass

    x = Tensor(_relu_then_pool_inputs(), requires_grad=True)
    assert type(nn.Sequential(nn.ReLU(), CountingPool(2))(x)._ctx).__name__ == "MaxPool2DFunction"
    assert type(nn.Sequential(nn.Tanh(), nn.MaxPool2D(2))(x)._ctx).__name__ == "MaxPool2DFunction"
    assert type(nn.Sequential(nn.MaxPool2D(2), nn.ReLU())(x)._ctx).__name__ == "Relu"


def test_max_pool_propagates_nan_and_leaves_its_input_alone():
    data = np.random.default_rng(11).standard_normal((1, 2, 4, 4)).astype(np.float32)
    data[0, 0, 1, 1] = np.nan
    x = Tensor(data.copy(), requires_grad=True)
    out = MaxPool2DFunction.apply(x, kernel=(2, 2), stride=(2, 2))
    assert np.isnan(out.data[0, 0, 0, 0])
    assert np.isnan(out.data).sum() == 1
    out.sum().backward()
    np.testing.assert_array_equal(x.data, data)
    assert grad_of(x).sum() == out.size  # one position per window takes its gradient


@pytest.mark.parametrize(("kernel", "stride"), [((2, 2), (2, 2)), ((3, 3), (1, 2))])
def test_max_pool_sends_the_gradient_of_a_window_with_nan_where_torch_does(kernel, stride):
    x = np.random.default_rng(14).standard_normal((2, 2, 7, 8)).astype(np.float32)
    x[0, 0, 1, 1] = x[0, 1, 2, 4] = x[0, 1, 3, 5] = x[1, 0, 0, 0] = np.nan  # one window has two NaNs
    compare_with_torch(
        lambda x: MaxPool2DFunction.apply(x, kernel=kernel, stride=stride),
        lambda x: max_pool2d(x, kernel, stride),
        [x],
    )


def test_max_pool_finite_differences_float64():
    x = np.random.default_rng(7).standard_normal((2, 2, 5, 6))
    check_finite_differences(lambda x: MaxPool2DFunction.apply(x, kernel=(2, 3), stride=(1, 2)), [x])


def test_max_pool_errors_and_default_stride():
    pool = nn.MaxPool2D(3)
    assert pool.stride == (3, 3)
    with pytest.raises(ValueError, match=r"\(batch, channels, height, width\), got shape \(4, 4\)"):
        pool(Tensor(np.zeros((4, 4), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"kernel \(3, 3\) is larger than the \(padded\) input \(2, 2\)"):
        pool(Tensor(np.zeros((1, 1, 2, 2), dtype=np.float32)))


def test_two_batches_through_one_conv_in_one_graph_match_torch():
    # Each call keeps its own work buffers until its backward has run.
    torch.manual_seed(0)
    theirs = torch.nn.Conv2d(2, 3, 3, padding=1)
    ours = nn.Conv2D(2, 3, 3, padding=1)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(10)
    first, second = (
        rng.standard_normal((2, 2, 6, 6)).astype(np.float32),
        rng.standard_normal((4, 2, 5, 7)).astype(np.float32),
    )
    a, b = ours(Tensor(first)), ours(Tensor(second))
    ((a * a).sum() + (b * 2.0).sum()).backward()
    ta, tb = theirs(torch.from_numpy(first)), theirs(torch.from_numpy(second))
    ((ta * ta).sum() + (tb * 2.0).sum()).backward()
    assert ours.bias is not None
    assert theirs.bias is not None
    for mine, ref in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
        assert ref.grad is not None
        np.testing.assert_allclose(grad_of(mine), ref.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_buffer_pool_reuses_memory_and_stays_bounded():
    pool = BufferPool()
    first = pool.take((4, 5), np.float32)
    pool.give(first)
    again = pool.take((2, 9), np.float32)  # 18 elements fit in the 20-element buffer
    assert np.shares_memory(first, again)
    assert not np.shares_memory(pool.take((4, 5), np.float32), again)  # out until given back
    pool.give(*(pool.take((1000,), np.float64) for _ in range(pool.capacity + 5)))
    assert len(pool.free) == pool.capacity
    pool.max_bytes = 3 * 8000
    pool.give(pool.take((1000,), np.float64))
    assert sum(buffer.nbytes for buffer in pool.free) <= pool.max_bytes


@pytest.mark.parametrize(("kernel", "stride", "padding"), [(3, 1, 0), (4, 2, 1), (1, 3, 2)])
def test_conv1d_matches_torch_and_round_trips_state_dict(kernel, stride, padding):
    rng = np.random.default_rng(6)
    torch.manual_seed(0)
    theirs = torch.nn.Conv1d(3, 4, kernel, stride=stride, padding=padding)
    ours = nn.Conv1d(3, 4, kernel, stride=stride, padding=padding)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    compare_with_torch(ours, theirs, [rng.standard_normal((2, 3, 11)).astype(np.float32)], rtol=1e-4, atol=1e-5)
    for name, parameter in ours.named_parameters():
        reference = dict(theirs.named_parameters())[name].grad
        assert reference is not None
        np.testing.assert_allclose(grad_of(parameter), reference.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)
    ours.reset_parameters()
    again = torch.nn.Conv1d(3, 4, kernel, stride=stride, padding=padding)
    again.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = rng.standard_normal((1, 3, 9)).astype(np.float32)
    with no_grad():
        np.testing.assert_allclose(ours(Tensor(x)).data, again(torch.from_numpy(x)).detach().numpy(), atol=1e-5)


def test_conv1d_finite_differences_and_errors():
    rng = np.random.default_rng(7)
    layer = nn.Conv1d(2, 3, 3, stride=2, padding=1)
    for parameter in layer.parameters():
        parameter.data = parameter.data.astype(np.float64)
    check_finite_differences(layer, [rng.standard_normal((2, 2, 6))])
    bound = 1 / np.sqrt(2 * 3)
    assert 0.8 * bound < np.abs(nn.Conv1d(2, 64, 3).weight.data).max() <= bound
    with pytest.raises(ValueError, match=r"\(batch, 2, length\), got shape \(2, 6\)"):
        layer(Tensor(np.zeros((2, 6), np.float32)))
    with pytest.raises(ValueError, match=r"Conv1d\(in_channels=2\).*got shape \(1, 3, 6\)"):
        layer(Tensor(np.zeros((1, 3, 6), np.float32)))


AVERAGE_POOLS = [
    pytest.param((2, 3, 6, 6), 2, None, 0, id="2x2"),
    pytest.param((2, 2, 7, 5), (3, 2), (2, 1), 0, id="uneven-overlapping"),
    pytest.param((1, 2, 5, 5), 3, 2, 1, id="padding-counts"),
]


@pytest.mark.parametrize(("x_shape", "kernel", "stride", "padding"), AVERAGE_POOLS)
def test_avg_pool_matches_torch(x_shape, kernel, stride, padding):
    x = np.random.default_rng(8).standard_normal(x_shape).astype(np.float32)
    compare_with_torch(nn.AvgPool2d(kernel, stride, padding), torch.nn.AvgPool2d(kernel, stride, padding), [x])


@pytest.mark.parametrize(("x_shape", "size"), [((2, 3, 8, 8), 1), ((2, 3, 7, 5), (3, 2)), ((1, 2, 4, 6), (4, 6))])
def test_adaptive_avg_pool_matches_torch(x_shape, size):
    x = np.random.default_rng(9).standard_normal(x_shape).astype(np.float32)
    compare_with_torch(nn.AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size), [x])


def test_average_pools_finite_differences_and_errors():
    rng = np.random.default_rng(10)
    check_finite_differences(nn.AvgPool2d((3, 2), (2, 1), padding=1), [rng.standard_normal((1, 2, 5, 4))])
    check_finite_differences(nn.AdaptiveAvgPool2d((2, 3)), [rng.standard_normal((1, 2, 5, 4))])
    with pytest.raises(ValueError, match="at most half of kernel_size"):
        nn.AvgPool2d(2, padding=2)
    with pytest.raises(ValueError, match="larger than the"):
        nn.AvgPool2d(4)(Tensor(np.zeros((1, 1, 3, 3), np.float32)))
