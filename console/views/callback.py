"""POST /workflow/callback/: the DBA approval system's decision, authenticated by an HMAC signature.

Headers: X-Tower-Timestamp (unix seconds, within 5 minutes) and
X-Tower-Signature = hex HMAC-SHA256(Config.callback_secret, "<timestamp>.<raw body>").
Body: {approveStatus, approveUser, comment, towerId, dbsOrderId}.
"""
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from console.domain.instances import CallbackError, handle_callback


@login_not_required
@csrf_exempt
@require_POST
def workflow_callback(request):
    try:
        instance = handle_callback(
            request.body, request.headers.get("X-Tower-Signature", ""), request.headers.get("X-Tower-Timestamp", ""),
        )
    except CallbackError as exc:
        return JsonResponse({"code": exc.status, "message": str(exc)}, status=exc.status)
    return JsonResponse({"code": 1000, "message": "", "towerId": instance.pk, "status": instance.status})
