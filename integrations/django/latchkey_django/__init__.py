"""latchkey_django lets a Django REST Framework project accept latchkey's
tokens: latchkey_django.authentication.LatchkeyAuthentication, configured
by settings.LATCHKEY. See the README of the latchkey repository,
"Protecting your services".
"""
