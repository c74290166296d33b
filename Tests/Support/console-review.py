"""Holds a support-plan review in the SEND Provision console in headless Chromium, as a
SENCO would, and reports what it saw as one JSON line.

Usage: console-review.py BASE_URL EMAIL PASSWORD UPN NEXT_REVIEW TARGET_BY LATER_REVIEW

Starts a plan from the pupil's page, records that it was shared with the parents, holds
the review (rating the target, the pupil's and the parents' words, the decision on the
provision, a new target), and opens the review summary printed for the parents. Exits 1
with the reason on the first step that does not go as a person would expect.
"""
import sys

from console_driver import Driver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select

base, email, password, upn, next_review, target_by, later_review = sys.argv[1:8]
driver = Driver()
browser, wait, seen, fail = driver.browser, driver.wait, driver.seen, driver.fail


def set_date(element_id, value):
    # Date inputs take keystrokes in the browser's locale; the value itself is ISO.
    browser.execute_script("arguments[0].value = arguments[1]", browser.find_element(By.ID, element_id), value)


try:
    browser.get(base + "/login")
    browser.find_element(By.ID, "email").send_keys(email)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.XPATH, "//button[text()='Sign in']").click()
    wait.until(ready.presence_of_element_located((By.ID, "alerts")))

    # Start a plan from the pupil's page.
    browser.get(base + "/pupils/" + upn)
    browser.find_element(By.XPATH, "//summary[text()='Start a plan']").click()
    browser.find_element(By.ID, "plan-strengths").send_keys("Loves stories; kind to friends")
    browser.find_element(By.ID, "plan-needs").send_keys("Blending longer words")
    browser.find_element(By.ID, "plan-strategies").send_keys("Pre-teach topic words")
    set_date("plan-review", next_review)
    browser.find_element(By.ID, "plan-target-1").send_keys("Blend four-sound words")
    set_date("plan-target-1-by", target_by)
    browser.find_element(By.XPATH, "//button[text()='Start the plan']").click()
    wait.until(ready.presence_of_element_located((By.ID, "review")))
    seen["plan"] = browser.find_element(By.TAG_NAME, "h1").text
    if "/plans/" not in browser.current_url:
        fail("starting a plan did not lead to the plan's page: " + browser.current_url)

    # Shared with the parents at a meeting.
    browser.find_element(By.ID, "shared-how").send_keys("meeting with mum")
    browser.find_element(By.XPATH, "//button[text()='Record sharing']").click()
    wait.until(lambda b: "meeting with mum" in b.page_source)

    # Hold the review.
    target = browser.find_element(By.CSS_SELECTOR, "#review select[id^=rating-]")
    Select(target).select_by_value("partly")
    browser.find_element(By.CSS_SELECTOR, "#review input[id^=evidence-]").send_keys("blends 6 of 10")
    browser.find_element(By.ID, "attendees").send_keys("SENCO, class teacher, mum")
    decision = browser.find_elements(By.CSS_SELECTOR, "#review select[id^=decision-]")
    if decision:
        Select(decision[0]).select_by_value("continue")
    browser.find_element(By.ID, "pupil-voice").send_keys("The sound buttons help me")
    browser.find_element(By.ID, "parent-voice").send_keys("She sounds out signs in town")
    set_date("next-review", later_review)
    browser.find_element(By.ID, "next-target-1").send_keys("Read a decodable book aloud")
    set_date("next-target-1-by", later_review)
    browser.find_element(By.XPATH, "//button[text()='Record the review']").click()
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "section.review")))
    review = browser.find_element(By.CSS_SELECTOR, "section.review")
    seen["review"] = review.text
    if "partly" not in review.text or "The sound buttons help me" not in review.text:
        fail("the review does not show the rating and the pupil's words")
    version = browser.find_element(By.CSS_SELECTOR, "h2").text
    seen["version"] = version
    if not version.startswith("Version 2"):
        fail("the review did not make version 2: " + version)

    # The summary printed for the parents.
    plan_page = browser.current_url
    review.find_element(By.CSS_SELECTOR, "p.links a").click()
    # The plan's page has a title too: wait for the summary's own page.
    wait.until(ready.url_changes(plan_page))
    wait.until(ready.presence_of_element_located((By.TAG_NAME, "h1")))
    seen["summary"] = browser.find_element(By.TAG_NAME, "body").text[:600]
    if "plan went" not in browser.find_element(By.TAG_NAME, "h1").text:
        fail("the printed summary has no title")
    if "She sounds out signs in town" not in seen["summary"]:
        fail("the printed summary does not give the parents' words")
    driver.succeed()
except SystemExit:
    raise
except Exception as error:
    fail("%s: %s" % (type(error).__name__, error))
