# test_app.py commits this as demo/urls.py: a release whose health check
# answers 500, so it must never go live.
from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("health/", lambda request: HttpResponse("broken", status=500))]
