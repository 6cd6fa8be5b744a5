import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import math

    import marimo as mo

    from sdesim.demos import linear_scaling_rule, measure_scaling_rule
    from sdesim.lessons.exercises.scaling_rule import check
    from sdesim.lessons.view import rows_markdown
    return check, linear_scaling_rule, math, measure_scaling_rule, mo, rows_markdown


@app.cell
def _(mo):
    mo.md(r"""
    # 5. When the approximation fails: the linear scaling rule

    **The linear scaling rule** (Definition 2.1): when the batch grows from $B$ to $\kappa B$, multiply the
    learning rate by $\kappa$ too. The SDE explains why: $\Sigma_{\kappa B} = \Sigma_B/\kappa$, so the noise
    term $\sqrt{\kappa\eta}\,\Sigma_{\kappa B}^{1/2} = \sqrt{\eta}\,\Sigma_B^{1/2}$ is unchanged and the SDE
    with time $t = k\eta$ is the same. But the SDE is only an approximation of SGD, and at large $\kappa\eta$
    the discrete steps show.

    Section 5 makes this precise for a **scale-invariant** loss, $L_\gamma(cx) = L_\gamma(x)$, with weight
    decay $\lambda$ (normalized networks are of this kind). Then $\langle \nabla L_\gamma(x), x\rangle = 0$,
    and the squared norm obeys, exactly, $|x_{k+1}|^2 = (1-\eta\lambda)^2|x_k|^2 + \eta^2|\nabla L_\gamma(x_k)|^2$.
    At equilibrium, with $R = \mathbb{E}|x|^2$, $G = \mathbb{E}|\nabla L|^2$ (signal) and
    $N = \mathbb{E}\operatorname{Tr}\Sigma_B$ (noise),

    $$(2-\eta\lambda)\,\lambda R = \eta\,(G + N). \qquad (11)$$

    The rule *works* at $\kappa$ when $R$, $G$ and $N$ (the last rescaled, $N/\kappa N'$) stay within a factor
    $C$ of the baseline's, eq. (13); $C_\kappa$ is the smallest such $C$. Two theorems say when it cannot:

    - **Theorem 5.6** (from the baseline alone): the rule fails for every
      $\kappa > \kappa^* = C^2\,(1 + N/G)$ — a large noise-to-signal ratio $N/G$ allows a large $\kappa$;
    - **Theorem 5.5** (from the scaled run): it fails where
      $N'/G' < (1 - 1/\kappa)/(C^2-1) - 1/\kappa$.

    Both are sufficient conditions: the rule may fail earlier.
    """)
    return


@app.cell
def _(measure_scaling_rule):
    measured = measure_scaling_rule(paths=2048)
    return (measured,)


@app.cell
def _(math, mo):
    kappa = mo.ui.dropdown(options={str(k): k for k in (4, 8, 16, 32, 64)}, value="16",
                           label="κ (batch κB, learning rate κη)")
    closeness = mo.ui.dropdown(options={"√2 (the paper's)": math.sqrt(2.0), "√3": math.sqrt(3.0)},
                               value="√2 (the paper's)", label="closeness C")
    mo.hstack([kappa, closeness])
    return closeness, kappa


@app.cell
def _(closeness, kappa, linear_scaling_rule, measured):
    demo = linear_scaling_rule(measured, kappa=kappa.value, C=closeness.value)
    lesson_rows = [r for r in demo.rows if r.exact is not None]
    return demo, lesson_rows


@app.cell
def _(closeness, demo, kappa, lesson_rows, measured, mo, rows_markdown):
    _base = measured.baseline
    _point = next(p for p in demo.points if p["kappa"] == kappa.value)
    _nsr = demo.row("baseline noise-to-signal ratio N/G")
    _holds = _point["C"] <= closeness.value
    mo.vstack([
        mo.md(f"**Baseline** (batch {measured.batch_size}, η = {measured.lr:g}, λ = {measured.weight_decay:g}, "
              f"{measured.paths} paths per run): N = {_base.N:.4g} ± {_base.stderr[2]:.2g}, "
              f"G = {_base.G:.4g} ± {_base.stderr[1]:.2g}, so N/G = {_nsr.measured:.4g} ± {_nsr.stderr:.2g} and "
              f"**κ\\* = {demo.kappa_star.value:.3g} ± {demo.kappa_star.stderr:.2g}** (Theorem 5.6, C = "
              f"{closeness.value:.3g}).\n\n"
              f"**At κ = {kappa.value}**: C_κ = {_point['C']:.3g} ± {_point['C_se']:.2g}, so the rule "
              f"{'holds' if _holds else 'fails'} at C = {closeness.value:.3g}; Theorem 5.5's condition "
              f"(N′/G′ = {_point['nsr']:.3g} ± {_point['nsr_se']:.2g} against {_point['threshold']:.3g}) "
              f"{'holds: failure certified' if _point['certified'] else 'does not hold: no certificate'}."),
        demo.figure,
        mo.md("Eq. (11), the norm balance, holds exactly at equilibrium: each run's measured balance against 0."),
        mo.md(rows_markdown(lesson_rows, note=f"{measured.paths} paths per run; κ* and C_κ have no exact value "
                                              "and are shown above with their standard errors.")),
    ])
    return


@app.cell
def _(mo):
    answer = mo.ui.text(label="Exercise: from the baseline's N/G above, compute κ* for C = √2.", value="")
    answer
    return (answer,)


@app.cell
def _(answer, check, math, measured, mo):
    mo.md(check(answer.value, measured.baseline.N, measured.baseline.G, math.sqrt(2.0)).markdown())
    return


if __name__ == "__main__":
    app.run()
