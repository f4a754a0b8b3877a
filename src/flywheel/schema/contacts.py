"""Contact points: the identifier types a channel can reach, and which channel reaches which.

Ingestion keeps these types' values sealed in `contact_points` (beside the keyed hash that
`identifiers` holds for every type); delivery asks for a person's address on a channel by the
channel's name. Placeholders (`13800138000`, `test@test.com`) and marketplace-masked phones
(`138****1234`) never become contact points: ingestion drops the first and types the second
`phone_masked`, which reaches no one.
"""

CONTACT_TYPES = ("email", "phone", "wecom_external_userid", "wechat_openid")
"""Identifier types stored as contact points: e-mail, phone (E.164), WeCom external contact, WeChat openid."""

CHANNELS = {"email": "email", "sms": "phone", "wecom": "wecom_external_userid", "wechat": "wechat_openid"}
"""Delivery channel → the contact point type it sends to."""
