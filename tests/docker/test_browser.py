"""A person's view of Lab 2: real headless Chromium fills the form and reads the answer, and
reads the API's docs page."""

from __future__ import annotations

import shutil
import time
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.docker

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a machine with a closed network: no background calls home.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.mark.parametrize(
    ("measurements", "species"),
    [
        (
            {
                "sepal_length": "5.1",
                "sepal_width": "3.5",
                "petal_length": "1.4",
                "petal_width": "0.2",
            },
            "setosa",
        ),
        (
            {
                "sepal_length": "5.9",
                "sepal_width": "2.8",
                "petal_length": "4.3",
                "petal_width": "1.3",
            },
            "versicolor",
        ),
        (
            {
                "sepal_length": "6.3",
                "sepal_width": "3.3",
                "petal_length": "6.0",
                "petal_width": "2.5",
            },
            "virginica",
        ),
    ],
)
def test_fill_the_form_and_see_the_species_and_its_picture(lab2, browser, measurements, species):
    page = browser.new_page()
    requests_elsewhere = []
    page.on(
        "request",
        lambda req: None if req.url.startswith(lab2.url) else requests_elsewhere.append(req.url),
    )
    try:
        page.goto(lab2.url + "/")
        assert page.title().startswith("Iris classifier")
        assert "version" in page.text_content("#model-version")
        for name, value in measurements.items():
            page.fill(f"#{name}", value)
        page.click("#classify")
        page.wait_for_selector("#result")
        assert page.text_content("#species") == species
        picture = page.locator("#species-picture")
        assert picture.get_attribute("src").endswith(f"/{species}.svg")
        # The page is drawn before its picture arrives: wait until the browser is done
        # with it (loaded or broken), then check it really decoded. Polled from here:
        # wait_for_function polls with eval() in the page, which the page's CSP refuses
        # (it failed whenever the picture was not complete at the first look).
        deadline = time.monotonic() + 10
        while not picture.evaluate("img => img.complete") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert picture.evaluate("img => img.naturalWidth") > 0
        assert page.text_content("#answer-version").startswith("v")
        assert requests_elsewhere == []
    finally:
        page.close()


def test_a_bad_value_is_explained_on_the_page(lab2, browser):
    page = browser.new_page()
    try:
        page.goto(lab2.url + "/")
        # Bypass the browser's own number check to reach the server's.
        page.evaluate("document.getElementById('petal_width').type = 'text'")
        page.fill("#petal_width", "wide")
        page.click("#classify")
        assert "not a number" in page.text_content("#error")
    finally:
        page.close()


# Set up before any script of the page runs (the browser injects it: the page's policy
# does not apply), so no violation goes unseen.
CSP_LISTENER = (
    "window.cspViolations = [];"
    "document.addEventListener('securitypolicyviolation',"
    " (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
)


def test_the_api_docs_render_and_nothing_leaves_the_origin(lab2, browser):
    """/docs: Swagger UI draws every operation of /openapi.json, and "Try it out" on
    /predict gets its 200. Every request goes to the stack, and the page's policy
    refuses nothing (the browser would report it)."""
    origin = urlsplit(lab2.url)[:2]
    page = browser.new_page()
    requests, console = [], []
    page.on("request", lambda req: requests.append(req.url))
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.add_init_script(CSP_LISTENER)
    try:
        page.goto(lab2.url + "/docs")
        predict = page.locator("#operations-prediction-predict")
        predict.wait_for(state="visible")
        document = lab2.get_json("/openapi.json")
        operations = sum(len(item) for item in document["paths"].values())
        assert page.locator(".opblock").count() == operations
        # The example request, sent by the page itself.
        predict.locator(".opblock-summary").click()
        predict.locator("button.try-out__btn").click()
        predict.locator("button.execute").click()
        status = predict.locator(".live-responses-table tbody .response-col_status").first
        status.wait_for()
        assert status.text_content().strip() == "200"
        assert predict.locator(".request-url pre").text_content().strip() == lab2.url + "/predict"

        assert lab2.url + "/openapi.json" in requests and lab2.url + "/predict" in requests
        elsewhere = [url for url in requests if urlsplit(url)[:2] != origin]
        assert elsewhere == []
        assert page.evaluate("window.cspViolations") == []
        problems = [line for line in console if line.startswith(("error", "pageerror"))]
        assert not [line for line in console if "Content Security Policy" in line]
        assert problems == []
    finally:
        page.close()
