import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    from sdesim import demos
    from sdesim.lessons.exercises.sgd_process import STEPS, check
    from sdesim.lessons.view import picture, rows_markdown
    return STEPS, check, demos, mo, picture, rows_markdown


@app.cell
def _(mo):
    mo.md(r"""
    # 1. SGD is a stochastic process

    SGD with batch size 1 and a **fixed** learning rate $\eta$ takes steps
    $\Phi_{i+1} = \Phi_i - \eta\,\hat g_i$, where the minibatch gradient $\hat g_i = g(\Phi_i) + \xi_i$ is the
    mean gradient plus a noise $\xi_i$ of mean 0 and variance $s$. Because the minibatches are drawn at random,
    the iterates are a **stochastic process**.

    **Time is the sum of the learning rates:** $N$ steps take the time $\Delta t = N\eta$. If $g$ hardly changes
    over $\Delta t$,

    $$\Phi(t + \Delta t) \approx \Phi(t) - g\,\Delta t + \eta \sum_{i=1}^{N} \big(g - \hat g_i\big).$$

    The last term is a **sum** (not an average) of $N$ independent noises. By the central limit theorem it
    becomes Gaussian with standard deviation $\eta\sqrt{N s} = \sqrt{\eta s\,\Delta t}$: the spread grows like
    $\sqrt N$, and per unit of time the variance is $\eta s$ — the diffusion $\eta\Sigma$ of the SDE
    $d\Phi = -g\,dt + \sqrt{\eta\Sigma}\,dW$ (eq. (2) of Li, Malladi & Arora 2021).

    How fast does the sum turn Gaussian? Cumulants add over independent terms, so with the noise law's
    standardized cumulants $\kappa_3, \kappa_4$:

    $$\operatorname{Var} = N\eta^2 s, \qquad \text{skewness} = -\frac{\kappa_3}{\sqrt N}, \qquad
    \text{excess kurtosis} = \frac{\kappa_4}{N}.$$

    Below, SGD runs on a flat loss ($g = 0$, from $x_0 = 0$), so $x_N$ **is** that sum.
    The noise laws: Gaussian ($\kappa_3 = 0$, $\kappa_4 = 0$), Rademacher $\pm1$ ($\kappa_3 = 0$, $\kappa_4 = -2$),
    exponential $\mathrm{Exp}(1) - 1$ ($\kappa_3 = 2$, $\kappa_4 = 6$).
    """)
    return


@app.cell
def _(mo):
    lr = mo.ui.slider(0.02, 0.5, step=0.02, value=0.1, label="learning rate η", show_value=True)
    steps = mo.ui.slider(1, 64, step=1, value=16, label="steps N", show_value=True)
    noise = mo.ui.dropdown(["exponential", "rademacher", "gaussian"], value="exponential", label="noise law")
    mo.hstack([lr, steps, noise], justify="start")
    return lr, noise, steps


@app.cell
def _(demos, lr, noise, steps):
    paths = 20_000
    demo = demos.noise_sum(lr=lr.value, steps=steps.value, noise=noise.value, paths=paths, seed=0)
    lesson_rows = [r for r in demo.rows if r.exact is not None]
    return demo, lesson_rows, paths


@app.cell
def _(demo, lesson_rows, lr, mo, paths, picture, rows_markdown, steps):
    mo.vstack([
        picture(demo.figure),
        mo.md(rows_markdown(lesson_rows, note=(
            f"{paths} SGD paths, N = {steps.value} steps of η = {lr.value:g}: time t = Nη. The exact values are "
            "the cumulant formulas above; z = (measured − exact)/stderr stays within a few units when they hold."))),
    ])
    return


@app.cell
def _(STEPS, mo):
    answer = mo.ui.text(label="your skewness:", placeholder="e.g. -0.5")
    mo.vstack([
        mo.md(f"""
    ## Exercise

    With **exponential** noise ($\\kappa_3 = 2$) and $\\eta = 0.1$, what is the **skewness** of $x$ after
    $N = {STEPS}$ steps? (The slider stops at 64: predict it with the formulas, then check.)
    Your answer is checked against a simulation of 20000 paths, within 5 standard errors.
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
