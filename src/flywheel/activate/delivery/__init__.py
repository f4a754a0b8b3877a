"""Delivery: the channels a journey reaches people through, their settings and their rules.

    settings = load_delivery(wh)                          # the settings in force, secrets opened
    outcomes = deliver_many(settings, messages, history=delivered_today)
    deliver(settings, Message(id=key, channel="sms", to="+8613812345678", text="…", purpose="marketing_sms"))

E-mail goes over SMTP; every other channel (`sms`, `wecom`, …) is a Standard Webhooks endpoint.
Quiet hours and caps are parsed here (`DeliverySettings.quiet_hours_for`, `cap_for`) and applied by
the journey executor; the SMS opt-out text and the WeCom one-a-day rule are in `rules`. See
docs/activation.md, "Delivery".
"""

from flywheel.lazy import lazy_exports

_EXPORTS = {
    "Message": "flywheel.activate.delivery.message", "Outcome": "flywheel.activate.delivery.message",
    "Refusal": "flywheel.activate.delivery.message", "STATUSES": "flywheel.activate.delivery.message",
    "REASONS": "flywheel.activate.delivery.message",
    "deliver": "flywheel.activate.delivery.dispatch", "deliver_many": "flywheel.activate.delivery.dispatch",
    "prepared": "flywheel.activate.delivery.rules", "wecom_allows": "flywheel.activate.delivery.rules",
    "opt_out_keyword": "flywheel.activate.delivery.rules", "SMS_OPT_OUT": "flywheel.activate.delivery.rules",
    "DeliverySettings": "flywheel.activate.delivery.settings", "QuietHours": "flywheel.activate.delivery.settings",
    "Cap": "flywheel.activate.delivery.settings", "DeliverySettingsError": "flywheel.activate.delivery.settings",
    "load_settings_file": "flywheel.activate.delivery.reading",
    "apply_delivery": "flywheel.activate.delivery.store", "load_delivery": "flywheel.activate.delivery.store",
    "show_delivery": "flywheel.activate.delivery.store", "DeliveryError": "flywheel.activate.delivery.store",
    "sms_reply": "flywheel.activate.delivery.replies", "email_unsubscribe": "flywheel.activate.delivery.replies", "persons_with_phone": "flywheel.activate.delivery.replies",
    "message_id_for": "flywheel.activate.delivery.email", "unsubscribe_token": "flywheel.activate.delivery.email",
    "read_unsubscribe_token": "flywheel.activate.delivery.email",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
