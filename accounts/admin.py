from django.contrib import admin

from accounts.models import ApiKey, MonthlyUsage, User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    """Admin list of accounts: e-mail, tier, sign-up date, staff flag; searchable by e-mail."""

    list_display = ("email", "tier", "date_joined", "is_staff")
    search_fields = ("email",)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Admin list of API keys (prefix, owner, dates); the hash and prefix cannot be edited."""

    list_display = ("prefix", "name", "user", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash")


admin.site.register(MonthlyUsage)
