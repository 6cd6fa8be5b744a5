import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    from sdesim import demos
    from sdesim.lessons.exercises.stationary import LR, NOISE_SCALE, check
    from sdesim.lessons.view import picture, rows_markdown
    return LR, NOISE_SCALE, check, demos, mo, picture, rows_markdown


@app.cell
def _(mo):
    mo.md(r"""
    # 3. Is the stationary law Gibbs?

    With $\eta$ held fixed, SGD does not converge to a point: it keeps moving, and settles into a
    **stationary law**. Is it the Gibbs law $p(x) = \frac1Z e^{-L(x)/T}$, with a temperature $T$ set by the
    learning rate? Look at the SDE that models SGD (eq. (2) of Li, Malladi & Arora 2021):

    $$dX = -\nabla L(X)\,dt + \sqrt{\eta\,\Sigma}\;dW .$$

    **Langevin dynamics** $dX = -\nabla L\,dt + \sqrt{2T}\,dW$ has the Gibbs law as its stationary law.
    So if $\Sigma = \sigma^2 I$, the SDE *is* Langevin, with $T = \eta\sigma^2/2$.

    **In one dimension** every constant noise is of that form: the stationary law is Gibbs. Below, the
    double well $L(x) = h(x^2 - 1)^2$ with $h = 0.5$, $\sigma = 2$, started in the left well.

    **In two dimensions** with anisotropic noise it is not. On $L(x) = \frac12 x^\top H x$ the SDE's stationary
    law is Gaussian with covariance $S$ solving the **Lyapunov equation** $HS + SH = \eta\Sigma$, and Gibbs
    would need $S = T H^{-1}$, i.e. $HS = T\,I$: one temperature in every direction. With $H$ diagonal,
    $S_{ii} = \eta\Sigma_{ii}/(2H_{ii})$, so direction $i$ feels $T_i = \eta\Sigma_{ii}/2$, and
    $S_{12} = \eta\Sigma_{12}/(H_{11} + H_{22}) \ne 0$ where Gibbs has 0. SGD itself solves the discrete
    equation $S = (I - \eta H)S(I - \eta H) + \eta^2\Sigma$, within $O(\eta)$ of the SDE's.

    The anisotropy $\alpha$ moves the noise from $\Sigma = I$ ($\alpha = 0$) to
    $\Sigma_0 = \begin{pmatrix}0.4 & 0.6\\ 0.6 & 1.6\end{pmatrix}$ ($\alpha = 1$), keeping its trace (and
    the Gibbs temperature $T = \eta\,\mathrm{Tr}\,\Sigma/4$) fixed; $H = \mathrm{diag}(1, 4)$.
    """)
    return


@app.cell
def _(mo):
    anisotropy = mo.ui.slider(0.0, 1.0, step=0.25, value=1.0, label="anisotropy α", show_value=True)
    lr = mo.ui.slider(steps=[0.1, 0.125, 0.16], value=0.1, label="learning rate η", show_value=True)
    mo.hstack([anisotropy, lr], justify="start")
    return anisotropy, lr


@app.cell
def _(demos, lr):
    well_paths = 1_000
    well = demos.double_well_paths(lr=lr.value, time=100.0, paths=well_paths, shown=4, sde_substeps=10, seed=0)
    return well, well_paths


@app.cell
def _(anisotropy, demos, lr):
    plane_paths = 10_000
    plane = demos.stationary_gibbs(lr=lr.value, noise_cov=demos.anisotropic_noise(anisotropy.value),
                                   paths=plane_paths, seed=0)
    gap = demos.gibbs_gap(anisotropy.value, lr=lr.value)
    return gap, plane, plane_paths


@app.cell
def _(plane, well):
    lesson_rows = [r for r in well.rows + plane.rows if r.z is not None]
    return (lesson_rows,)


@app.cell
def _(lr, mo, picture, rows_markdown, well, well_paths):
    mo.vstack([
        mo.md(f"## One dimension: Langevin at $T = \\eta\\sigma^2/2$ (η = {lr.value:g}, σ = 2)"),
        picture(well.figure),
        mo.md(rows_markdown(well.rows, note=(
            f"{well_paths} paths each of SGD and of the SDE (Euler–Maruyama, step η/10), at t = 100. The exact "
            "E x² is the Gibbs law's (a quadrature); SGD's stationary law differs from it by O(η), so its E x² has "
            "no exact value here. P(x > 0) = ½ by symmetry."))),
    ])
    return


@app.cell
def _(gap, mo, picture, plane, plane_paths, rows_markdown):
    mo.vstack([
        mo.md("## Two dimensions: the Lyapunov covariance against $T H^{-1}$"),
        mo.hstack([picture(plane.figure), picture(gap.figure)], justify="start", wrap=True),
        mo.md(rows_markdown(plane.rows + gap.rows, note=(
            f"{plane_paths} SGD paths per panel at t = 12, from x* = 0. Measured: SGD's covariance, against the "
            "discrete Lyapunov solution; the SDE's and the Gibbs covariances are exact."))),
    ])
    return


@app.cell
def _(LR, NOISE_SCALE, mo):
    answer = mo.ui.text(label="your T:", placeholder="e.g. 0.3")
    mo.vstack([
        mo.md(f"""
    ## Exercise

    In one dimension, SGD with $\\eta = {LR}$ and gradient noise of standard deviation $\\sigma = {NOISE_SCALE:g}$
    is modelled by the SDE $dX = -L'(X)\\,dt + \\sqrt{{\\eta\\sigma^2}}\\,dW$. At which **temperature** $T$ is its
    stationary law $\\propto e^{{-L/T}}$? The answer is checked against 4000 exactly sampled SDE paths on
    $L = \\tfrac12 x^2$, where $\\mathbb E\\,x^2 = T$, within 5 standard errors.
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
