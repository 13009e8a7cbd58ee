/* handprop explain --html: the engine's forward pass and backpropagation, in the browser, in doubles.
 *
 * Mirrors handprop/network.py, activations.py and costs.py formula for formula (one example, n = 1):
 *   z^ℓ = W^ℓ a^(ℓ−1) + b^ℓ,  a^ℓ = σ(z^ℓ)                         (Network._forward)
 *   C_x = ½‖a^L − y‖² (quadratic) or the cross-entropy from z^L     (Cost.per_example)
 *   δ^L = Cost.delta(z^L, a^L, y)                                   (BP1)
 *   δ^(ℓ−1) = σ'(z^(ℓ−1)) ⊙ (W^ℓᵀ δ^ℓ)                             (BP2)
 *   ∂C_x/∂b^ℓ = δ^ℓ,  ∂C_x/∂W^ℓ = δ^ℓ a^(ℓ−1)ᵀ                      (BP3, BP4)
 * Numbers are JavaScript doubles (IEEE-754 binary64), the same as the engine's float64.
 */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const TINY = 2.2250738585072014e-308; // np.finfo(float64).tiny, as costs.cross_entropy_grad_a clips

  // ------------------------------------------------------------------ data, decoded exactly
  function bytesOf(b64) {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function float64s(b64) {
    const bytes = bytesOf(b64);
    const view = new DataView(bytes.buffer);
    const out = new Float64Array(bytes.length / 8);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(8 * i, true); // little-endian
    return out;
  }

  const DATA = JSON.parse($("handprop-data").textContent);
  const sizes = DATA.sizes;
  const L = sizes.length - 1; // weight layers; layer L is the output
  const names = DATA.class_names;
  const acts = DATA.hidden.concat([DATA.output]); // acts[ℓ−1]: σ of layer ℓ

  function unpack(flat) {
    const W = [], b = [];
    let at = 0;
    for (let l = 0; l < L; l++) {
      const n = sizes[l + 1] * sizes[l];
      W.push(flat.slice(at, at + n)); at += n; // (out, in) row-major
      b.push(flat.slice(at, at + sizes[l + 1])); at += sizes[l + 1];
    }
    return { W, b };
  }
  const PARAMS = unpack(float64s(DATA.parameters));
  const PIXELS = bytesOf(DATA.digits.pixels);
  const N_DIGITS = DATA.digits.count;

  // ------------------------------------------------------------------ activations (activations.py)
  const ACT = {
    sigmoid: { f: (z) => 1 / (1 + Math.exp(-z)), prime: (z, a) => a * (1 - a), lo: 0, hi: 1 },
    tanh: { f: (z) => Math.tanh(z), prime: (z, a) => 1 - a * a, lo: -1, hi: 1 },
    relu: { f: (z) => Math.max(z, 0), prime: (z, a) => (z > 0 ? 1 : 0), lo: 0, hi: null },
    identity: { f: (z) => z, prime: (z, a) => 1, lo: null, hi: null },
    softmax: { f: null, prime: null, lo: 0, hi: 1 },
  };
  function activate(name, z) {
    if (name === "softmax") {
      let m = -Infinity;
      for (const v of z) m = Math.max(m, v);
      const e = z.map((v) => Math.exp(v - m));
      let s = 0;
      for (const v of e) s += v;
      return e.map((v) => v / s);
    }
    return z.map(ACT[name].f);
  }
  // ∂C/∂z from ∂C/∂a (Activation.backward): ⊙σ'(z), or softmax's vector–Jacobian product
  function backward(name, g, z, a) {
    if (name === "softmax") {
      let s = 0;
      for (let k = 0; k < a.length; k++) s += g[k] * a[k];
      return a.map((ak, k) => ak * (g[k] - s));
    }
    const p = ACT[name].prime;
    return g.map((gk, k) => gk * p(z[k], a[k]));
  }
  function logSoftmax(z) {
    let m = -Infinity;
    for (const v of z) m = Math.max(m, v);
    const shifted = z.map((v) => v - m);
    let s = 0;
    for (const v of shifted) s += Math.exp(v);
    const ls = Math.log(s);
    return shifted.map((v) => v - ls);
  }
  const softplus = (z) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))); // np.logaddexp(0, z)

  // ------------------------------------------------------------------ costs (costs.py), one example
  const COST = {
    quadratic: {
      value: (z, a, y) => { let s = 0; for (let j = 0; j < a.length; j++) s += (a[j] - y[j]) ** 2; return 0.5 * s; },
      gradA: (a, y) => a.map((aj, j) => aj - y[j]),
      delta: (z, a, y, out) => backward(out, a.map((aj, j) => aj - y[j]), z, a),
    },
    cross_entropy: {
      value: (z, a, y, out) => {
        let s = 0;
        if (out === "softmax") { const ls = logSoftmax(z); for (let j = 0; j < z.length; j++) s += y[j] * ls[j]; return -s; }
        for (let j = 0; j < z.length; j++) s += softplus(z[j]) - y[j] * z[j];
        return s;
      },
      gradA: (a, y, out) => out === "softmax"
        ? a.map((aj, j) => -y[j] / Math.max(aj, TINY))
        : a.map((aj, j) => (aj - y[j]) / Math.max(aj * (1 - aj), TINY)),
      delta: (z, a, y, out) => {
        if (out === "softmax") { let s = 0; for (const v of y) s += v; return a.map((aj, j) => aj * s - y[j]); }
        return a.map((aj, j) => aj - y[j]);
      },
    },
  };
  const cost = COST[DATA.cost];

  // ------------------------------------------------------------------ the engine, for one example
  function forward(P, x) {
    const zs = [], as = [x];
    let a = x;
    for (let l = 0; l < L; l++) {
      const nin = sizes[l], nout = sizes[l + 1], W = P.W[l], b = P.b[l];
      const z = new Array(nout);
      for (let j = 0; j < nout; j++) {
        let s = 0;
        for (let k = 0; k < nin; k++) s += a[k] * W[j * nin + k];
        z[j] = s + b[j];
      }
      a = activate(acts[l], z);
      zs.push(z); as.push(a);
    }
    return { zs, as };
  }
  function oneHot(label) { const y = new Array(sizes[L]).fill(0); y[label] = 1; return y; }

  function backprop(P, x, label) {
    const fp = forward(P, x), y = oneHot(label);
    const zL = fp.zs[L - 1], aL = fp.as[L];
    const C = cost.value(zL, aL, y, acts[L - 1]);
    const gradA = cost.gradA(aL, y, acts[L - 1]); // ∂C_x/∂a^L
    const delta = new Array(L), nablaA = new Array(L + 1); // nablaA[ℓ] = ∂C_x/∂a^ℓ
    delta[L - 1] = cost.delta(zL, aL, y, acts[L - 1]); // BP1
    nablaA[L] = gradA;
    for (let l = L; l >= 1; l--) { // ∂C/∂a^(ℓ−1) = W^ℓᵀ δ^ℓ, then BP2
      const nin = sizes[l - 1], nout = sizes[l], W = P.W[l - 1], d = delta[l - 1];
      const g = new Array(nin).fill(0);
      for (let j = 0; j < nout; j++) for (let k = 0; k < nin; k++) g[k] += d[j] * W[j * nin + k];
      nablaA[l - 1] = g;
      if (l >= 2) delta[l - 2] = backward(acts[l - 2], g, fp.zs[l - 2], fp.as[l - 1]);
    }
    const nablaW = [], nablaB = [];
    for (let l = 0; l < L; l++) { // BP3, BP4
      const d = delta[l], a = fp.as[l], nin = sizes[l];
      const gw = new Float64Array(d.length * nin);
      for (let j = 0; j < d.length; j++) for (let k = 0; k < nin; k++) gw[j * nin + k] = d[j] * a[k];
      nablaW.push(gw); nablaB.push(d.slice());
    }
    return { fp, y, C, gradA, delta, nablaA, nablaW, nablaB };
  }

  function sgdStep(P, g, eta) { // θ ← θ − η ∂C_x/∂θ
    return {
      W: P.W.map((W, l) => W.map((w, i) => w - eta * g.nablaW[l][i])),
      b: P.b.map((b, l) => b.map((v, j) => v - eta * g.nablaB[l][j])),
    };
  }

  // ------------------------------------------------------------------ formatting and colours
  function fmt(v, p = 4) {
    if (!isFinite(v)) return String(v);
    if (v === 0) return "0";
    const m = Math.abs(v);
    if (m >= 1000 && m < 1e9) return Math.round(v).toLocaleString("en");
    if (m >= 1e-3 && m < 1e5) return v.toPrecision(p).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
    return v.toExponential(p - 1).replace("e", "·10^").replace(/\^\+?(-?\d+)$/, (s, e) => "<sup>" + e + "</sup>");
  }
  const short = (v) => (v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(0) : fmt(v, 3)); // fits a narrow column
  const fmtE = (v, p = 3) => (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5) ? v.toExponential(p - 2) : fmt(v, p)); // plain text, narrow
  const sgn = (v) => (v > 0 ? "+" : v < 0 ? "−" : "");
  const fmtS = (v, p) => sgn(v) + fmt(Math.abs(v), p);
  // diverging scale: blue (−1) → white (0) → red (+1), as matplotlib's RdBu reversed
  function diverging(t) {
    t = Math.max(-1, Math.min(1, t));
    const blue = [33, 102, 172], red = [178, 24, 43], white = [247, 247, 247];
    const end = t < 0 ? blue : red, s = Math.abs(t);
    return white.map((w, i) => Math.round(w + (end[i] - w) * s));
  }
  const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;
  function shade(name, v, lo, hi) { // an activation as a shade: grey for [0, 1], diverging for signed
    if (lo < 0) return rgb(diverging(v / Math.max(Math.abs(lo), Math.abs(hi), 1e-300)));
    const t = hi > lo ? (v - lo) / (hi - lo) : 0, g = Math.round(255 * Math.max(0, Math.min(1, t)));
    return `rgb(${g},${g},${g})`;
  }
  function range(name, values) {
    const spec = ACT[name];
    let lo = spec.lo, hi = spec.hi;
    if (lo === null) lo = Math.min(0, ...values);
    if (hi === null) hi = Math.max(1e-12, ...values);
    return [lo, hi];
  }
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  const sup = (l) => `<sup>${l}</sup>`;
  const argsortAbs = (v) => Array.from(v.keys()).sort((i, j) => Math.abs(v[j]) - Math.abs(v[i]) || i - j);

  function paintImage(canvas, x) { // 28×28 grey image, white strokes on black as MNIST
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(28, 28);
    for (let p = 0; p < 784; p++) {
      const g = Math.round(255 * x[p]);
      img.data.set([g, g, g, 255], 4 * p);
    }
    ctx.putImageData(img, 0, 0);
  }

  // ------------------------------------------------------------------ page state
  const S = { source: "test", index: DATA.start || 0, label: 0, x: null, drawn: new Uint8Array(784), drawLabel: 0, neuron: null, eta: 3, batch: null };

  function imageOf(i) {
    const x = new Array(784);
    for (let p = 0; p < 784; p++) x[p] = PIXELS[784 * i + p] / 255; // exactly handprop.data's k/255
    return x;
  }
  function drawnImage() { return Array.from(S.drawn, (k) => k / 255); }
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  function fromHex(text) {
    if (!/^[0-9a-fA-F]{1568}$/.test(text)) return null;
    const out = new Uint8Array(784);
    for (let p = 0; p < 784; p++) out[p] = parseInt(text.substr(2 * p, 2), 16);
    return out;
  }

  function readHash() {
    const h = new URLSearchParams(location.hash.replace(/^#/, ""));
    const msg = [];
    if (h.has("draw")) {
      const d = fromHex(h.get("draw"));
      if (d) { S.drawn = d; S.source = "drawn"; } else msg.push("#draw= needs 1568 hex digits (784 pixels, 00–ff)");
      const lab = parseInt(h.get("label"), 10);
      if (Number.isInteger(lab) && lab >= 0 && lab < sizes[L]) S.drawLabel = lab;
    } else if (h.has("index")) {
      const i = Number(h.get("index"));
      if (Number.isInteger(i) && i >= 0 && i < N_DIGITS) { S.index = i; S.source = "test"; }
      else msg.push(`test index ${esc(h.get("index"))} is not in this page: it holds test images 0–${N_DIGITS - 1}`);
    }
    if (h.has("neuron")) { const j = Number(h.get("neuron")); if (Number.isInteger(j) && j >= 0 && j < sizes[L]) S.neuron = j; }
    if (h.has("lr")) { const e = Number(h.get("lr")); if (e > 0 && isFinite(e)) S.eta = e; }
    if (h.has("scale")) $("own-scale").checked = h.get("scale") === "own";
    if (h.has("batch")) { const b = Number(h.get("batch")); if (b >= 1) S.batch = b; }
    $("digit-note").innerHTML = msg.join("<br>");
  }

  // ------------------------------------------------------------------ panels
  function renderDigit(g) {
    paintImage($("digit"), S.source === "test" ? imageOf(S.index) : drawnImage());
    paintImage($("pad"), drawnImage());
    $("index").value = S.index;
    $("digit-caption").textContent = S.source === "test" ? `test image #${S.index}, label ${names[S.label]}` : `your drawing, called a ${names[S.label]}`;
    const aL = g.fp.as[L];
    let guess = 0;
    for (let j = 1; j < aL.length; j++) if (aL[j] > aL[guess]) guess = j; // argmax, the first of ties, as Network.predict
    $("verdict").innerHTML = `Label <b>${esc(names[S.label])}</b> · network's guess <b class="${guess === S.label ? "ok" : "bad"}">${esc(names[guess])}</b> · this digit's cost C<sub>x</sub> = <b>${fmt(g.C, 5)}</b>` +
      `<br><span class="note">${DATA.cost === "quadratic" ? "C<sub>x</sub> = ½ Σ<sub>j</sub>(a<sup>L</sup><sub>j</sub> − y<sub>j</sub>)², the engine's convention (the video's C₀ has no ½)" : DATA.output === "softmax" ? "C<sub>x</sub> = −Σ<sub>j</sub> y<sub>j</sub> log a<sup>L</sup><sub>j</sub> (softmax + cross-entropy)" : "C<sub>x</sub> = −Σ<sub>j</sub>[y<sub>j</sub> log a<sub>j</sub> + (1−y<sub>j</sub>) log(1−a<sub>j</sub>)]"}; a mini-batch's cost is the mean of its C<sub>x</sub>.</span>`;
    return guess;
  }

  function renderLayers(g, guess) {
    const cols = [];
    cols.push(`<div class="layer"><div class="lname">input a${sup(0)}<br>${sizes[0]} pixels</div><canvas id="layer-input" width="28" height="28" class="img small"></canvas></div>`);
    for (let l = 1; l <= L; l++) {
      const a = g.fp.as[l], [lo, hi] = range(acts[l - 1], a), n = a.length;
      const big = n <= 16, cells = a.map((v, j) => {
        const label = l === L ? `<span class="cname">${esc(names[j])}</span>` : "";
        const val = big || l === L ? `<span class="val">${short(v)}</span>` : "";
        return `<div class="unit${l === L && j === guess ? " guess" : ""}" title="a${l}[${j}] = ${v}">${label}<span class="sq" style="background:${shade(acts[l - 1], v, lo, hi)}"></span>${val}</div>`;
      }).join("");
      cols.push(`<div class="layer"><div class="lname">${l === L ? "output" : "hidden"} a${sup(l)}<br>${n} · ${acts[l - 1]}</div><div class="units${big || l === L ? "" : " dense"}">${cells}</div></div>`);
    }
    $("layers").innerHTML = `<div class="layers">${cols.join('<div class="arrow">→</div>')}</div>`;
    paintImage($("layer-input"), g.fp.as[0]);
    const [lo, hi] = range(acts[0], g.fp.as[1]);
    $("shade-legend").innerHTML = lo < 0 ? "blue negative, white 0, red positive" : `black ${fmt(lo, 2)} → white ${fmt(hi, 2)}`;
  }

  function bars(values, opts) { // horizontal bars centred at 0, one row per entry
    const m = Math.max(...values.map(Math.abs), 1e-300);
    return values.map((v, i) => {
      const w = (45 * Math.abs(v)) / m;
      const style = v >= 0 ? `left:50%;width:${w}%` : `left:${50 - w}%;width:${w}%`;
      const cls = (v >= 0 ? "up" : "down") + (opts.selected === i ? " sel" : "");
      return `<div class="brow${opts.clickable ? " click" : ""}${opts.selected === i ? " sel" : ""}" data-i="${i}"><span class="bname">${opts.name(i)}</span><span class="btrack"><span class="bar ${cls}" style="${style}"></span><span class="zero"></span></span><span class="bval">${opts.text(v, i)}</span></div>`;
    }).join("");
  }

  function renderWants(g, j) {
    const aL = g.fp.as[L], nudges = g.gradA.map((v) => -v);
    const head = `<div class="brow head"><span class="bname">output</span><span class="btrack">desired change −∂C<sub>x</sub>/∂a${sup("L")}<sub>j</sub> (green ↑, red ↓)</span><span class="bval">a<sub>j</sub> → y<sub>j</sub>: nudge</span></div>`;
    $("wants").innerHTML = head + bars(nudges, {
      clickable: true, selected: j,
      name: (i) => esc(names[i]) + (i === S.label ? " ◀ label" : ""),
      text: (v, i) => `${fmtE(aL[i])} → ${g.y[i]}: <b>${sgn(v)}${fmtE(Math.abs(v))}</b>`,
    });
    for (const row of $("wants").querySelectorAll(".brow.click")) row.onclick = () => { S.neuron = Number(row.dataset.i); setHash(); update(); };
    $("wants-note").innerHTML = (DATA.cost === "quadratic"
      ? "For the quadratic cost the desired change of a<sub>j</sub> is −∂C<sub>x</sub>/∂a<sub>j</sub> = y<sub>j</sub> − a<sub>j</sub>: proportional to how far each output is from its target. "
      : "For cross-entropy −∂C<sub>x</sub>/∂a<sub>j</sub> grows without bound as a wrong output nears its opposite; the bars are scaled to the largest. ") +
      "<b>Click an output</b> to follow it in panels 4 and 5.";
    const prev = g.nablaA[L - 1].map((v) => -v); // −∂C_x/∂a^(L−1) = −Σ_j δ_j w_jk
    const share = g.delta[L - 1][j];
    $("back-title").innerHTML = `…summed back into layer ${L - 1}: −∂C<sub>x</sub>/∂a${sup(L - 1)}<sub>k</sub> = −Σ<sub>j</sub> δ${sup(L)}<sub>j</sub> w${sup(L)}<sub>jk</sub>`;
    $("back").innerHTML = bars(prev, {
      name: (k) => `a${sup(L - 1)}<sub>${k}</sub>`,
      text: (v, k) => `<b>${sgn(v)}${fmtE(Math.abs(v))}</b> <span class="dim">(${esc(names[j])}: ${fmtE(-share * PARAMS.W[L - 1][j * sizes[L - 1] + k], 2)})</span>`,
    });
    $("back-note").innerHTML = `Each neuron of layer ${L - 1} adds up the wishes of all ${sizes[L]} outputs, each in proportion to the weight that links them; in grey, output ${esc(names[j])}'s own wish. Backpropagation repeats this layer after layer.`;
  }

  function renderAvenues(g, j) {
    const nin = sizes[L - 1], d = g.delta[L - 1][j], aPrev = g.fp.as[L - 1], W = PARAMS.W[L - 1];
    const gw = Array.from({ length: nin }, (_, k) => g.nablaW[L - 1][j * nin + k]);
    const ga = Array.from({ length: nin }, (_, k) => d * W[j * nin + k]);
    const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    const avenues = [
      { name: "change the bias b" + sup(L) + `<sub>${j}</sub>`, size: Math.abs(d), body: `∂C<sub>x</sub>/∂b${sup(L)}<sub>${j}</sub> = δ${sup(L)}<sub>${j}</sub> = <b>${fmtS(d)}</b>` },
      { name: "change the weights w" + sup(L) + `<sub>${j}k</sub>`, size: norm(gw), body: table(gw, aPrev, `a${sup(L - 1)}<sub>k</sub>`, `∂C/∂w${sup(L)}<sub>${j}k</sub> = δ<sub>${j}</sub>a<sub>k</sub>`) + "<span class=note>in proportion to the previous activations: the neurons that fire most carry the biggest weight changes (fire together, wire together)</span>" },
      { name: "change the previous activations a" + sup(L - 1) + "<sub>k</sub>", size: norm(ga), body: table(ga, W.slice(j * nin, (j + 1) * nin), `w${sup(L)}<sub>${j}k</sub>`, `δ<sub>${j}</sub>w<sub>${j}k</sub>`) + "<span class=note>in proportion to the weights; we cannot set activations directly, only through layer " + (L - 1) + "'s own weights and biases (panel 3, below)</span>" },
    ];
    const order = argsortAbs(avenues.map((a) => a.size));
    $("avenues-title").innerHTML = `4 · Three avenues to change output ${esc(names[j])}'s activation`;
    const ranked = argsortAbs(gw), k1 = ranked[0];
    const nonzero = ranked.filter((k) => gw[k] !== 0), kMin = nonzero[nonzero.length - 1];
    const nz = nonzero.map((k) => Math.abs(gw[k])).sort((a, b) => a - b);
    const med = nz.length ? 0.5 * (nz[Math.floor((nz.length - 1) / 2)] + nz[Math.ceil((nz.length - 1) / 2)]) : 0;
    const times = (u, v) => (v > 0 ? fmt(Math.abs(u) / v, 3) : "∞");
    const w = (k) => `w${sup(L)}<sub>${j},${k}</sub>`;
    let reading = "";
    if (gw[k1] !== 0) {
      reading = `<p class="reading">The cost is <b>${times(gw[k1], med)} times</b> more sensitive to ${w(k1)} (∂C/∂w = ${fmtS(gw[k1], 3)}) than to this neuron's median weight (|∂C/∂w| = ${fmt(med, 3)}), ` +
        `and <b>${times(gw[k1], Math.abs(gw[kMin]))} times</b> more than to ${w(kMin)} (${fmtS(gw[kMin], 3)}), the least sensitive: the video's “3.2 versus 0.1”. ` +
        `A nudge to ${w(k1)} buys that many times more decrease in cost.</p>`;
    } else reading = `<p class="reading">δ${sup(L)}<sub>${j}</sub> = 0: the cost does not depend on any of this neuron's weights for this digit.</p>`;
    $("avenues").innerHTML = `<p>a${sup(L)}<sub>${j}</sub> = ${fmt(g.fp.as[L][j], 4)}, target ${g.y[j]}; δ${sup(L)}<sub>${j}</sub> = ∂C<sub>x</sub>/∂z${sup(L)}<sub>${j}</sub> = ${fmtS(d)}. Ranked by size (‖·‖ of each avenue's partial derivatives):</p>` +
      order.map((i, r) => `<div class="avenue"><div class="aname">${r + 1}. ${avenues[i].name} <span class="dim">‖·‖ = ${fmt(avenues[i].size, 3)}</span></div>${avenues[i].body}</div>`).join("") + reading;
  }
  function table(partials, factor, factorName, partialName) {
    const rows = argsortAbs(partials).slice(0, 4).map((k) => `<tr><td>${k}</td><td>${fmtS(factor[k], 3)}</td><td><b>${fmtS(partials[k], 3)}</b></td><td>${partials[k] > 0 ? "↓" : partials[k] < 0 ? "↑" : ""}</td></tr>`).join("");
    return `<table><tr><th>k</th><th>${factorName}</th><th>${partialName}</th><th>nudge</th></tr>${rows}</table>`;
  }

  function renderChain(g, j) {
    const nin = sizes[L - 1], k = argsortAbs(Array.from({ length: nin }, (_, i) => g.nablaW[L - 1][j * nin + i]))[0];
    const aPrev = g.fp.as[L - 1][k], z = g.fp.zs[L - 1][j], a = g.fp.as[L][j], y = g.y[j];
    const engine = g.nablaW[L - 1][j * nin + k];
    const out = acts[L - 1], elementwise = out !== "softmax";
    let factors, product, text;
    if (elementwise) {
      const sp = ACT[out].prime(z, a), dc = g.gradA[j];
      factors = [[`∂z${sup(L)}/∂w${sup(L)} = a${sup(L - 1)}`, aPrev], [`∂a${sup(L)}/∂z${sup(L)} = σ′(z${sup(L)})`, sp],
        [DATA.cost === "quadratic" ? `∂C₀/∂a${sup(L)} = a${sup(L)} − y` : `∂C₀/∂a${sup(L)} = (a−y)/(a(1−a))`, dc]];
      product = aPrev * sp * dc;
      text = DATA.cost === "quadratic" ? "With the engine's C<sub>x</sub> = ½(a − y)² the last factor is a − y; the video's C₀ = (a − y)² makes it 2(a − y)." : "";
    } else {
      const d = g.delta[L - 1][j];
      factors = [[`∂z${sup(L)}/∂w${sup(L)} = a${sup(L - 1)}`, aPrev], [`∂C₀/∂z${sup(L)} = δ${sup(L)} = a − y`, d]];
      product = aPrev * d;
      text = "Softmax couples the outputs, so σ′(z) and ∂C₀/∂a merge into one factor δ = Σ<sub>i</sub> ∂C₀/∂a<sub>i</sub> ∂a<sub>i</sub>/∂z<sub>j</sub> = a<sub>j</sub> − y<sub>j</sub>.";
    }
    S.chain = { neuron: j, k, factors: factors.map((f) => f[1]), product, nabla_w: engine };
    const nodes = [`w${sup(L)}<sub>${j},${k}</sub><br><span class="dim">with a${sup(L - 1)}<sub>${k}</sub>, b${sup(L)}<sub>${j}</sub></span>`, `z${sup(L)}<sub>${j}</sub> = ${fmt(z, 4)}`];
    if (elementwise) nodes.push(`a${sup(L)}<sub>${j}</sub> = ${fmt(a, 4)}`);
    nodes.push(`C₀ = ${fmt(g.C, 4)}<br><span class="dim">y<sub>${j}</sub> = ${y}</span>`);
    let html = '<div class="chain">';
    nodes.forEach((n, i) => {
      html += `<div class="node">${n}</div>`;
      if (i < factors.length) html += `<div class="edge"><span class="flabel">${factors[i][0]}</span><span class="fval">${fmtS(factors[i][1], 5)}</span><span class="earrow">→</span></div>`;
    });
    html += "</div>";
    const rel = Math.abs(product - engine) / Math.max(Math.abs(engine), 1e-300);
    html += `<p>∂C₀/∂w${sup(L)}<sub>${j},${k}</sub> = ${factors.map((f) => "(" + fmtS(f[1], 4) + ")").join(" × ")} = <b>${fmtS(product, 8)}</b></p>` +
      `<p>Backpropagation's number for that weight, δ${sup(L)}<sub>${j}</sub> a${sup(L - 1)}<sub>${k}</sub> (BP4): <b>${fmtS(engine, 8)}</b> <span class="dim">(relative difference ${rel === 0 ? "0" : fmt(rel, 2)})</span></p>` +
      `<p class="note">The path of one neuron per layer from the calculus chapter, for output ${esc(names[j])} and the weight from neuron k = ${k} of layer ${L - 1}, the one the cost is most sensitive to. ${text}</p>`;
    $("chain").innerHTML = html;
  }

  function renderSGD(g) {
    const eta = S.eta, P2 = sgdStep(PARAMS, g, eta), fp2 = forward(P2, g.fp.as[0]);
    const zL = fp2.zs[L - 1], aL = fp2.as[L], C2 = cost.value(zL, aL, g.y, acts[L - 1]);
    S.sgd = { learning_rate: eta, cost_before: g.C, cost_after: C2, outputs_after: aL.slice() };
    $("lr").value = Math.log10(eta);
    $("lr-value").textContent = fmt(eta, 3);
    const before = g.fp.as[L], [lo, hi] = range(acts[L - 1], before.concat(aL)), span = hi - lo || 1;
    const rows = before.map((b, i) => `<div class="srow"><span class="bname">${esc(names[i])}${i === S.label ? " ◀" : ""}</span><span class="strack"><span class="sbar before" style="width:${(100 * (b - lo)) / span}%"></span><span class="sbar after" style="width:${(100 * (aL[i] - lo)) / span}%"></span></span><span class="bval">${fmtE(b)} → <b>${fmtE(aL[i])}</b></span></div>`).join("");
    $("sgd").innerHTML = `<p>Every weight and bias moves by −η ∂C<sub>x</sub>/∂θ, this digit's own gradient. Cost <b>${fmt(g.C, 5)}</b> → <b class="${C2 < g.C ? "ok" : "bad"}">${fmt(C2, 5)}</b>.</p>` +
      `<div class="legend"><span class="sbar before key"></span> a${sup(L)} before <span class="sbar after key"></span> after the step</div>${rows}` +
      `<p class="note">Too large an η overshoots: the cost can rise again. Training takes such steps for mini-batches instead of one digit (panel 8).</p>`;
  }

  function renderMaps(g) {
    const nin = sizes[0], n1 = sizes[1], gw = g.nablaW[0];
    const norms = Array.from({ length: n1 }, (_, k) => { let s = 0; for (let p = 0; p < nin; p++) s += gw[k * nin + p] ** 2; return Math.sqrt(s); });
    const shown = n1 <= 16 ? Array.from({ length: n1 }, (_, k) => k) : argsortAbs(norms).slice(0, 16).sort((a, b) => a - b);
    const own = $("own-scale").checked, peak = (k) => { let v = 0; for (let p = 0; p < nin; p++) v = Math.max(v, Math.abs(gw[k * nin + p])); return v; };
    const m = Math.max(0, ...shown.map(peak));
    $("maps").innerHTML = shown.map((k) => `<figure class="map"><canvas width="28" height="28" class="img map" data-k="${k}"></canvas><figcaption>neuron ${k}: δ${sup(1)} ${fmtS(g.delta[0][k], 2)}${own ? `<br>max ${fmt(peak(k), 2)}` : ""}</figcaption></figure>`).join("");
    for (const c of $("maps").querySelectorAll("canvas")) {
      const k = Number(c.dataset.k), ctx = c.getContext("2d"), img = ctx.createImageData(28, 28), scale = own ? peak(k) : m;
      for (let p = 0; p < nin; p++) img.data.set(diverging(scale > 0 ? gw[k * nin + p] / scale : 0).concat([255]), 4 * p);
      ctx.putImageData(img, 0, 0);
    }
    const stops = Array.from({ length: 11 }, (_, i) => rgb(diverging(1 - i / 5))).join(",");
    const top = own ? "+max" : "+" + fmt(m, 2), bottom = own ? "−max" : "−" + fmt(m, 2);
    $("maps-legend").innerHTML = `<div class="cbar-title">∂C<sub>x</sub>/∂w${sup(1)}<sub>kp</sub><br>${own ? "each map to its own max" : "one scale for all maps"}</div><div class="cbar"><div class="cgrad" style="background:linear-gradient(${stops})"></div><div class="cticks"><span>${top}</span><span>0</span><span>${bottom}</span></div></div>`;
    $("maps-note").innerHTML = `Pixel p of map k is the sensitivity of the cost to the weight from pixel p to first-layer neuron k. <b class="red">Red</b>: ∂C/∂w > 0, the cost rises with this weight, so gradient descent lowers it. <b class="blue">Blue</b>: ∂C/∂w < 0, gradient descent raises it. White: no effect. ` +
      `Since ∂C<sub>x</sub>/∂w${sup(1)}<sub>kp</sub> = δ${sup(1)}<sub>k</sub> x<sub>p</sub>, each map is the digit itself scaled by δ${sup(1)}<sub>k</sub>: only the weights from lit pixels move.` +
      (n1 > 16 ? ` Layer 1 has ${n1} neurons; shown are the 16 with the largest ‖∂C/∂W${sup(1)}<sub>k</sub>‖.` : "");
  }

  function renderBatch() {
    const st = DATA.study;
    if (!st || !st.rows.length) { $("batch-chart").innerHTML = "<p>This page was written without the mini-batch study (<code>--no-study</code>).</p>"; $("panel-batch").querySelector(".controls").hidden = true; return; }
    const rows = st.rows, slider = $("batch");
    slider.max = rows.length - 1;
    if (S.batch !== null) { let best = 0; rows.forEach((r, i) => { if (Math.abs(Math.log(r.size / S.batch)) < Math.abs(Math.log(rows[best].size / S.batch))) best = i; }); slider.value = best; S.batch = null; }
    const i = Number(slider.value), r = rows[i];
    $("batch-value").innerHTML = `${r.size.toLocaleString("en")} of ${st.examples.toLocaleString("en")}: cos = <span class="big">${r.cosine_mean.toFixed(3)}</span> ± ${r.cosine_std.toFixed(3)}`;
    const W = 400, H = 170, x0 = 46, y0 = 12, w = W - x0 - 12, h = H - y0 - 34;
    const lx = (s) => x0 + (w * Math.log10(s)) / Math.log10(Math.max(rows[rows.length - 1].size, 10));
    const ly = (c) => y0 + (h * (1 - c)) / 2; // cos from −1 to 1
    let svg = `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="cosine against batch size">`;
    for (const c of [-1, -0.5, 0, 0.5, 1]) svg += `<line x1="${x0}" x2="${x0 + w}" y1="${ly(c)}" y2="${ly(c)}" class="grid"/><text x="${x0 - 6}" y="${ly(c) + 4}" text-anchor="end">${c}</text>`;
    for (let d = 1; d <= rows[rows.length - 1].size * 1.01; d *= 10) svg += `<text x="${lx(d)}" y="${y0 + h + 16}" text-anchor="middle">${d >= 1000 ? d / 1000 + "k" : d}</text>`;
    svg += `<text x="${x0 + w / 2}" y="${H - 2}" text-anchor="middle">mini-batch size B (log scale)</text><text x="12" y="${y0 + h / 2}" transform="rotate(-90 12 ${y0 + h / 2})" text-anchor="middle">cos∠(∇C_B, ∇C)</text>`;
    svg += `<polyline class="curve" points="${rows.map((q) => `${lx(q.size)},${ly(q.cosine_mean)}`).join(" ")}"/>`;
    rows.forEach((q, n) => { svg += `<line class="err" x1="${lx(q.size)}" x2="${lx(q.size)}" y1="${ly(Math.min(1, q.cosine_mean + q.cosine_std))}" y2="${ly(Math.max(-1, q.cosine_mean - q.cosine_std))}"/><circle cx="${lx(q.size)}" cy="${ly(q.cosine_mean)}" r="${n === i ? 6 : 3}" class="${n === i ? "cur" : "pt"}"/>`; });
    $("batch-chart").innerHTML = svg + "</svg>";
    $("batch-note").innerHTML = `The cosine between the gradient of a random mini-batch's mean cost and the gradient over all ${st.examples.toLocaleString("en")} training images (‖∇C‖ = ${fmt(st.full_norm, 3)}), mean ± standard deviation over ${r.trials} seeded batches; ‖∇C_B‖/‖∇C‖ = ${fmt(r.norm_ratio_mean, 3)}, ‖∇C_B − ∇C‖/‖∇C‖ = ${fmt(r.relative_error_mean, 3)}. ` +
      `<b>Computed in advance by handprop's engine</b> (<code>handprop.explain.minibatch_study</code>) when this page was written, not in the browser. Small batches: the drunk man stumbling downhill, but quickly.`;
  }

  // ------------------------------------------------------------------ update and state
  function update() {
    const x = S.source === "test" ? imageOf(S.index) : drawnImage();
    S.label = S.source === "test" ? DATA.digits.labels[S.index] : S.drawLabel;
    const g = backprop(PARAMS, x, S.label);
    const j = S.neuron === null ? S.label : S.neuron;
    const guess = renderDigit(g);
    renderLayers(g, guess);
    renderWants(g, j);
    renderAvenues(g, j);
    renderChain(g, j);
    renderSGD(g);
    renderMaps(g);
    const state = {
      source: S.source, index: S.source === "test" ? S.index : null, label: S.label, prediction: guess, neuron: j,
      sizes, hidden: DATA.hidden, output: DATA.output, cost_name: DATA.cost,
      input: x,
      activations: g.fp.as.slice(1),
      cost: g.C,
      nabla_w: g.nablaW.map((gw, l) => Array.from({ length: sizes[l + 1] }, (_, r) => Array.from(gw.subarray(r * sizes[l], (r + 1) * sizes[l])))),
      nabla_b: g.nablaB,
      nudges: g.gradA.map((v) => -v),
      previous_nudges: g.nablaA[L - 1].map((v) => -v),
      chain: S.chain, sgd: S.sgd,
    };
    $("handprop-state").textContent = JSON.stringify(state);
  }

  function setHash() {
    const h = S.source === "test" ? `index=${S.index}` : `draw=${hex(S.drawn)}&label=${S.drawLabel}`;
    history.replaceState(null, "", "#" + h + (S.neuron === null ? "" : `&neuron=${S.neuron}`));
  }

  function wire() {
    $("draw-label").innerHTML = names.map((n, i) => `<option value="${i}">${esc(n)}</option>`).join("");
    $("index").max = N_DIGITS - 1;
    $("index").onchange = () => { const i = Number($("index").value); if (Number.isInteger(i) && i >= 0 && i < N_DIGITS) { S.index = i; S.source = "test"; S.neuron = null; setHash(); update(); } };
    $("prev").onclick = () => { S.index = (S.index + N_DIGITS - 1) % N_DIGITS; S.source = "test"; S.neuron = null; setHash(); update(); };
    $("next").onclick = () => { S.index = (S.index + 1) % N_DIGITS; S.source = "test"; S.neuron = null; setHash(); update(); };
    $("clear").onclick = () => { S.drawn = new Uint8Array(784); S.source = "drawn"; setHash(); update(); };
    $("draw-label").onchange = () => { S.drawLabel = Number($("draw-label").value); S.source = "drawn"; setHash(); update(); };
    $("lr").oninput = () => { S.eta = Number((10 ** Number($("lr").value)).toPrecision(3)); update(); };
    $("batch").oninput = renderBatch;
    $("own-scale").onchange = update;
    const pad = $("pad");
    let down = false;
    const stroke = (ev) => { // a soft round brush, as the strokes of MNIST digits
      const r = pad.getBoundingClientRect(), cx = ((ev.clientX - r.left) / r.width) * 28, cy = ((ev.clientY - r.top) / r.height) * 28;
      for (let py = 0; py < 28; py++) for (let px = 0; px < 28; px++) {
        const d2 = (px + 0.5 - cx) ** 2 + (py + 0.5 - cy) ** 2, v = Math.round(255 * Math.exp(-d2 / 1.4));
        if (v > 8) S.drawn[py * 28 + px] = Math.min(255, Math.max(S.drawn[py * 28 + px], v));
      }
      S.source = "drawn";
      update();
    };
    pad.addEventListener("pointerdown", (ev) => { down = true; pad.setPointerCapture(ev.pointerId); stroke(ev); });
    pad.addEventListener("pointermove", (ev) => { if (down) stroke(ev); });
    pad.addEventListener("pointerup", () => { down = false; setHash(); });
    window.addEventListener("hashchange", () => { readHash(); update(); });
  }

  try {
    if (sizes[0] !== 784) throw new Error(`this network takes ${sizes[0]} inputs; the page draws 28×28 = 784-pixel images`);
    wire();
    readHash();
    $("draw-label").value = String(S.drawLabel);
    S.neuron = S.neuron === null ? null : S.neuron;
    update();
    renderBatch();
    $("subtitle").textContent = `${DATA.title} — network ${sizes.join("-")} (hidden ${DATA.hidden.join(",")}, output ${DATA.output}, cost ${DATA.cost}), ${N_DIGITS} test images embedded`;
  } catch (err) {
    $("page-error").hidden = false;
    $("page-error").textContent = "handprop explain page: " + err.message;
    $("handprop-state").textContent = JSON.stringify({ error: err.message });
  }
})();
