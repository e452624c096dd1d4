"""The guide's own sample documents, byte for byte, shared by the protocol and CLI tests."""

# The request exactly as the guide prints it, with its sample values.
GUIDE_REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<request>
  <security>
    <login>LOGIN</login>
    <password>PASSWORD</password>
  </security>
  <phone>+79001234567</phone>
  <sender>target</sender>
  <random_string_len>4</random_string_len>
  <text>Временный пароль: {код}</text>
</request>
""".encode()

GUIDE_SUCCESS = b"""<?xml version="1.0" encoding="utf-8"?>
<response>
  <success code="64653989" id_sms="1712292705" status="send" />
</response>"""

GUIDE_ERROR = """<?xml version="1.0" encoding="utf-8"?>
<response>
  <error>Неверный логин или пароль</error>
</response>""".encode()
