"""Drives the SEND Provision console in headless Chromium (Selenium + Debian's chromedriver)
the way a SENCO would, and reports what it saw as one JSON line.

Usage: console-browser.py BASE_URL EMAIL PASSWORD SCHOOL_URN PROVISION_ID UPN SCREENSHOT.png

Signs in with the keyboard, takes a phone-width screenshot of the dashboard, acknowledges
the first alert with a note, enrols UPN in PROVISION_ID with an entry score, records an exit
score, checks the provision map shows it, and signs out. Exits 1 with the reason on the
first step that does not go as a person would expect.
"""
import sys

from console_driver import Driver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select

base, email, password, urn, provision, upn, screenshot = sys.argv[1:8]
driver = Driver()
browser, wait, seen, fail = driver.browser, driver.wait, driver.seen, driver.fail
try:
    # Sign in with the keyboard only: the fields are labelled and Enter submits.
    browser.get(base + "/login")
    email_field = browser.find_element(By.ID, "email")
    if browser.find_element(By.CSS_SELECTOR, "label[for=email]").text != "Email address":
        fail("the email field has no label")
    email_field.send_keys(email)
    email_field.send_keys(Keys.TAB)
    browser.switch_to.active_element.send_keys(password + Keys.ENTER)
    wait.until(ready.presence_of_element_located((By.ID, "alerts")))
    seen["dashboard"] = browser.find_element(By.TAG_NAME, "h1").text
    if not browser.current_url.endswith("/schools/" + urn):
        fail("signing in did not lead to the school's dashboard but to " + browser.current_url)

    # The dashboard on a phone: no sideways scrolling, the alert's buttons on screen.
    browser.set_window_size(390, 844)
    width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    seen["phone_width"] = width
    if width[0] > width[1]:
        fail("the dashboard scrolls sideways on a phone: %s" % width)
    browser.save_screenshot(screenshot)
    browser.set_window_size(1280, 900)

    # Acknowledge the first alert with a note.
    first = browser.find_element(By.CSS_SELECTOR, "li.alert")
    alert_id = first.get_attribute("id")
    first.find_element(By.CSS_SELECTOR, "input[name=note]").send_keys("Spoke to class teacher; reviewing at half term")
    first.find_element(By.CSS_SELECTOR, "button[value=acknowledged]").click()
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#%s .tag" % alert_id)))
    seen["alert"] = browser.find_element(By.CSS_SELECTOR, "#%s .rule" % alert_id).text
    if "acknowledged" not in seen["alert"]:
        fail("the alert does not show it was acknowledged: " + seen["alert"])

    # To the provision map, then the provision.
    browser.find_element(By.LINK_TEXT, "Provision map").click()
    wait.until(ready.presence_of_element_located((By.ID, "provision-" + provision)))
    browser.find_element(By.CSS_SELECTOR, "#provision-%s h2 a" % provision).click()
    wait.until(ready.presence_of_element_located((By.ID, "e-upn")))

    # Enrol the pupil with an entry score.
    browser.find_element(By.ID, "e-upn").send_keys(upn)
    browser.find_element(By.ID, "e-entry").send_keys("83")
    browser.find_element(By.XPATH, "//button[text()='Enrol']").click()
    wait.until(ready.presence_of_element_located((By.ID, "pupil-" + upn)))
    row = browser.find_element(By.ID, "pupil-" + upn)
    seen["enrolled"] = row.text
    if "83" not in row.text or "active" not in row.text:
        fail("the enrolled pupil's row does not show the entry score and status: " + row.text)

    # Record the exit score and complete the enrolment.
    row.find_element(By.ID, "exit-" + upn).send_keys("92")
    Select(row.find_element(By.ID, "status-" + upn)).select_by_value("completed")
    row.find_element(By.XPATH, ".//button[text()='Save']").click()
    wait.until(lambda b: "completed" in b.find_element(By.ID, "pupil-" + upn).text)
    seen["completed"] = browser.find_element(By.ID, "pupil-" + upn).text
    if "92" not in seen["completed"]:
        fail("the exit score is not shown: " + seen["completed"])

    # The provision map has changed.
    browser.get(base + "/schools/%s/provisions" % urn)
    section = browser.find_element(By.ID, "provision-" + provision)
    seen["map"] = section.text
    if "92" not in section.text:
        fail("the provision map does not show the exit score")

    # Sign out: back to the sign-in page, and the dashboard is out of reach.
    browser.find_element(By.XPATH, "//button[text()='Sign out']").click()
    wait.until(ready.presence_of_element_located((By.ID, "password")))
    browser.get(base + "/schools/" + urn)
    seen["after_sign_out"] = browser.current_url
    if not browser.current_url.endswith("/login"):
        fail("after signing out the dashboard was still reachable: " + browser.current_url)
    driver.succeed()
except SystemExit:
    raise
except Exception as error:
    fail("%s: %s" % (type(error).__name__, error))
