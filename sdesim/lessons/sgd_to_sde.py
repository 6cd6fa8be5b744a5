import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    from sdesim import demos
    from sdesim.lessons.exercises.sgd_to_sde import LR, check
    from sdesim.lessons.view import picture, rows_markdown
    return LR, check, demos, mo, picture, rows_markdown


@app.cell
def _(mo):
    mo.md(r"""
    # 2. From SGD to the SDE

    Lesson 1 turned $N$ SGD steps into one Gaussian kick; letting that hold for every $\Delta t$ gives the
    Itô SDE (eq. (2) of Li, Malladi & Arora 2021)

    $$dX_t = -\nabla L(X_t)\,dt + \sqrt{\eta\,\Sigma}\;dW_t .$$

    SGD itself is not this SDE: its steps are finite and its noise need not be Gaussian. **SVAG** (eq. (5))
    interpolates. With a parameter $l \ge 1$ it takes $l$ steps of size $\eta/l$ per SGD step, each with the
    gradient noise amplified to keep the same variance per unit time:

    $$x_{k+1} = x_k - \frac{\eta}{l}\Big(c_1\,\nabla L_{\gamma_{k,1}}(x_k) + c_2\,\nabla L_{\gamma_{k,2}}(x_k)\Big),
    \qquad c_{1,2} = \frac{1 \pm \sqrt{2l - 1}}{2}.$$

    $l = 1$ is SGD; as $l \to \infty$ SVAG converges to the SDE with weak error $O(1/l)$ (Theorem 4.3).

    Here: $L(x) = \tfrac12 (x - 1)^2$ from $x_0 = 0$, noise of variance 1, looked at at time $t = 1$.
    Each small step adds a third cumulant of order $(\eta/l)^3\,l$ (the amplified noise has third moment
    $\tfrac{3l - 1}{2}\kappa_3$), and there are $l/\eta$ small steps per unit of time, so the third moment of
    $x_t$ is of order $\eta^2/l$: the **skew of the law fades like $1/l$**, towards the SDE's Gaussian
    (third moment 0). The means differ
    too: SGD contracts $x - 1$ by $(1 - \eta)$ per step, the SDE by $e^{-\eta}$, so at $\eta = 0.5$ SGD's mean is
    $0.75$ and the SDE's $1 - e^{-1} = 0.632$ — the approximation holds only up to $O(\eta)$, and SVAG's mean
    closes in on the SDE's as $l$ grows.
    """)
    return


@app.cell
def _(mo):
    l = mo.ui.slider(steps=[2, 4, 8, 16, 32], value=8, label="SVAG's l", show_value=True)
    noise = mo.ui.dropdown(["exponential", "rademacher", "gaussian"], value="exponential", label="noise law")
    lr = mo.ui.slider(steps=[0.1, 0.125, 0.2, 0.25, 0.5], value=0.5, label="learning rate η", show_value=True)
    mo.hstack([l, noise, lr], justify="start")
    return l, lr, noise


@app.cell
def _(demos, l, lr, noise):
    paths = 20_000
    demo = demos.histograms(l_values=(1, l.value), lr=lr.value, time=1.0, noise=noise.value, paths=paths, seed=0)
    lesson_rows = [r for r in demo.rows if r.exact is not None]
    measured = []                                   # the simulated third moments, drawn on the 1/l picture
    for _l, _name in ((1, "SGD"), (l.value, f"SVAG l={l.value}")):
        _row = demo.row(f"{_name}: third central moment")
        measured.append((_l, _row.measured, _row.stderr))
    skew = demos.svag_skew(lr=lr.value, time=1.0, noise=noise.value, measured=measured)
    return demo, lesson_rows, paths, skew


@app.cell
def _(demo, l, lesson_rows, mo, paths, picture, rows_markdown, skew):
    mo.vstack([
        mo.hstack([picture(demo.figure), picture(skew.figure)], justify="start", wrap=True),
        mo.md(rows_markdown(lesson_rows, note=(
            f"{paths} paths for each of SGD, SVAG with l = {l.value} and the SDE (sampled exactly). "
            "Exact values: the closed forms of `sdesim.demos.svag_exact_moments` and `sde_exact_moments`; "
            f"the exact third moment tends to {skew.rows[-1].measured:.4g}/l."))),
    ])
    return


@app.cell
def _(LR, mo):
    answer = mo.ui.text(label="SGD's E x at t = 1:", placeholder="e.g. 0.5")
    mo.vstack([
        mo.md(f"""
    ## Exercise

    With $\\eta = {LR}$ (so $1/\\eta$ steps to reach $t = 1$), what is **SGD's** mean $\\mathbb E\\,x$ at $t = 1$?
    Hint: the noise has mean 0, so the mean follows gradient descent. Your answer is checked against
    20000 simulated SGD paths, within 5 standard errors.
    """),
        answer,
    ])
    return (answer,)


@app.cell
def _(answer, check, mo):
    verdict = check(answer.value)
    mo.md(verdict.markdown())
    return (verdict,)


if __name__ == "__main__":
    app.run()
