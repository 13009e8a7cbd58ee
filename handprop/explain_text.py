"""Plain-text form of an explanation: aligned tables, returned as a string (the CLI prints it)."""

from __future__ import annotations

import math
from typing import Optional, Sequence

from .explain import ExampleExplanation, ExampleVsBatch, MiniBatchStudy, Sensitivity
from .network import Network


def _arrow(value: float) -> str:
    return "↑" if value > 0 else ("↓" if value < 0 else " ")


def _class(i: int, names: Optional[Sequence[str]]) -> str:
    """Class ``i`` as a number, with its name when the classes have names (Fashion-MNIST)."""
    return f"{i} ({names[i]})" if names else str(i)


def _times(ratio: float) -> str:
    return "n/a" if math.isnan(ratio) else f"{ratio:.1f}×"


def _desired_note(net: Network) -> str:
    if net.cost_name == "quadratic":
        return ("For the quadratic cost C_x = ½Σ_j (a_j − y_j)² the desired change is y_j − a_j: proportional\n"
                "   to how far each output is from its target (the video's C₀ has no ½, so its nudges are twice these).")
    if net.output == "softmax":
        return ("For cross-entropy after softmax, C_x = −Σ_j y_j log a_j, so only the label's output has a direct\n"
                "   wish (y_j / a_j); the others are pushed down through the softmax (δ_j = a_j − y_j).")
    return ("For binary cross-entropy, −∂C_x/∂a_j = (y_j − a_j) / (a_j(1 − a_j)): the same direction as y_j − a_j,\n"
            "   stronger near 0 and 1.")


def _sensitivity_table(rows: list[Sensitivity], median: float, zeros: int, count: int, what: str) -> list[str]:
    lines = [f"   rank  {'parameter':<12} {'∂C_x/∂θ':>12}  {'vs median':>9}  nudge"]
    for rank, s in enumerate(rows, 1):
        lines.append(f"   {rank:>4}  {s.name:<12} {s.partial:>+12.4e}  {_times(s.times_median):>9}  {_arrow(s.desired_change)}")
    left_out = f", leaving out {zeros} that are exactly 0" if zeros else ""
    lines.append(f"   median |∂C_x/∂θ| over the layer's {count} {what}{left_out}: {median:.4e}")
    return lines


def format_example(
    e: ExampleExplanation, net: Network, title: str, class_names: Optional[Sequence[str]] = None
) -> str:
    """Sections 1–3: the outputs' wishes, the last layer's sensitivities, and the three avenues.

    ``class_names`` names output neuron j's class (Fashion-MNIST's "Ankle boot"); None shows numbers.
    """
    L, prev = e.layer, e.layer - 1
    o, av = e.outputs, e.avenues
    j = av.neuron
    out: list[str] = [title, f"Label {_class(e.label, class_names)}, predicted {_class(e.prediction, class_names)}; this example's cost C_x = {o.cost:.6f} "
                             f"(a batch's cost C is the mean of its C_x)", ""]

    out.append(f"1. Output layer {L}: what each output neuron wants (desired change = −∂C_x/∂a{L}_j)")
    out.append(f"   {'neuron':>6}  {'a_j now':>9}  {'target y_j':>10}  {'desired change':>14}")
    for i, (a, y, d) in enumerate(zip(o.activations, o.targets, o.desired)):
        mark = "  ← label" if i == e.label else ""
        name = f"  {class_names[i]}" if class_names else ""
        out.append(f"   {i:>6}  {a:>9.4f}  {y:>10g}  {d:>+14.4f} {_arrow(d)}{name}{mark}")
    out.append("   " + _desired_note(net))
    out.append("")

    out.append(f"2. How sensitive C_x is to the last layer's parameters (layer {L}), largest |∂C_x/∂θ| first")
    out.append(f"   weights w{L}[j,k] (output neuron j, neuron k of layer {prev}):")
    out += _sensitivity_table(e.weight_sensitivities, e.median_weight_partial, e.zero_weight_partials,
                              net.weights[-1].size, "weights")
    top = e.weight_sensitivities[0]
    if not math.isnan(top.times_median):
        out.append(f"   C_x is {top.times_median:.1f} times as sensitive to {top.name} as to a median weight "
                   f"({abs(top.partial):.3g} versus {e.median_weight_partial:.3g}): the video's \"3.2 versus 0.1\".")
    out.append(f"   biases b{L}[j]:")
    out += _sensitivity_table(e.bias_sensitivities, e.median_bias_partial, e.zero_bias_partials,
                              net.biases[-1].size, "biases")
    out.append("")

    out.append(f"3. Three avenues to change output neuron {j}'s activation (a = {av.activation:.4f}, target {av.target:g}; "
               f"δ{L}_{j} = ∂C_x/∂z{L}_{j} = {av.delta:+.4e})")
    out.append(f"   a) its bias: ∂C_x/∂b{L}[{j}] = δ{L}_{j} = {av.bias_partial:+.4e}  → nudge the bias {_arrow(-av.bias_partial)}")
    out.append(f"   b) its weights, in proportion to layer {prev}'s activations (∂C_x/∂w{L}[{j},k] = δ{L}_{j} · a{prev}_k):")
    out.append(f"      the most active neurons of layer {prev} carry the largest weight changes")
    out.append(f"      {'k':>4}  {f'a{prev}_k':>9}  {f'∂C_x/∂w{L}[{j},k]':>16}")
    for k in av.top_by_activation:
        out.append(f"      {k:>4}  {av.previous_activations[k]:>9.4f}  {av.weight_partials[k]:>+16.4e}")
    out.append(f"   c) layer {prev}'s activations, in proportion to the weights (neuron {j}'s part of ∂C_x/∂a{prev}_k is δ{L}_{j} · w{L}[{j},k]):")
    out.append(f"      {'k':>4}  {f'w{L}[{j},k]':>9}  {f'δ{L}_{j}·w{L}[{j},k]':>16}")
    for k in av.top_by_weight:
        out.append(f"      {k:>4}  {av.weights[k]:>+9.4f}  {av.activation_partials[k]:>+16.4e}")
    out.append(f"   d) what layer {prev} should do, summed over all {len(o.activations)} output neurons "
               f"(−∂C_x/∂a{prev}_k = −Σ_j δ{L}_j w{L}[j,k]):")
    out.append(f"      {'k':>4}  {f'a{prev}_k':>9}  {f'wish of neuron {j}':>16}  {'all outputs':>12}")
    for k in range(len(av.previous_desired)):
        wish = -av.activation_partials[k]
        out.append(f"      {k:>4}  {av.previous_activations[k]:>9.4f}  {wish:>+16.4e}  "
                   f"{av.previous_desired[k]:>+12.4e} {_arrow(av.previous_desired[k])}")
    out.append(f"      Backpropagation repeats this from layer {prev} down to layer 1.")
    return "\n".join(out)


def format_batch(b: ExampleVsBatch, class_names: Optional[Sequence[str]] = None) -> str:
    """Section 4a: each example's nudge against the batch's average nudge."""
    out = [f"4. One mini-batch of {len(b.indices)}: each example's gradient ∇C_x against the batch gradient ∇C "
           f"(C = mean C_x = {b.batch_cost:.4f})",
           f"   {'index':>7}  {'label':>5}  {'C_x':>8}  {'cos(∇C_x, ∇C)':>14}  {'‖∇C_x‖/‖∇C‖':>12}"]
    for i, lab, c, cos, r in zip(b.indices, b.labels, b.costs, b.cosines, b.norm_ratios):
        name = f"  {class_names[lab]}" if class_names else ""
        out.append(f"   {i:>7}  {lab:>5}  {c:>8.4f}  {cos:>14.3f}  {r:>12.2f}{name}")
    return "\n".join(out)


def format_study(s: MiniBatchStudy) -> str:
    """Section 4b: mini-batch gradients against the full training set's gradient."""
    trials = s.rows[0].trials if s.rows else 0
    out = [f"   Mini-batches against the full gradient over all {s.examples} training examples "
           f"(C = {s.full_cost:.4f}, ‖∇C‖ = {s.full_norm:.4e}), {trials} seeded batches per size:",
           f"   {'batch size':>10}  {'cos(∇C_B, ∇C)':>16}  {'‖∇C_B‖/‖∇C‖':>12}  {'‖∇C_B − ∇C‖/‖∇C‖':>17}"]
    for r in s.rows:
        cos = f"{r.cosine_mean:.3f} ± {r.cosine_std:.3f}"
        out.append(f"   {r.size:>10}  {cos:>16}  {r.norm_ratio_mean:>12.3f}  {r.relative_error_mean:>17.3f}")
    out.append("   The larger the batch, the closer its gradient to the full one (cos → 1); a small batch's step is cheap\n"
               "   but noisy: the video's drunk man stumbling downhill, but quickly. Near a minimum, where ∇C is small,\n"
               "   the noise dominates and even large batches point only roughly along ∇C.")
    return "\n".join(out)


def format_explanation(
    e: ExampleExplanation,
    net: Network,
    title: str,
    batch: Optional[ExampleVsBatch] = None,
    study: Optional[MiniBatchStudy] = None,
    class_names: Optional[Sequence[str]] = None,
) -> str:
    """The whole plain-text explanation, sections separated by blank lines (classes named if given)."""
    parts = [format_example(e, net, title, class_names)]
    if batch is not None:
        parts.append(format_batch(batch, class_names))
    if study is not None:
        parts.append(format_study(study))
    return "\n\n".join(parts) + "\n"
