import requests

def ocr_with_error_handling(image, api_key, image_type="url"):
    url = "https://api.neosantara.xyz/v1/ocr"

    headers = {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json"
    }

    payload = {
        "model": "deepseek-ocr",
        "image": image,
        "image_type": image_type,
        "return_image": False
    }

    try:
        response = requests.post(url, json=payload, headers=headers)

        # Check for HTTP errors
        if response.status_code != 200:
            error_data = response.json()
            error = error_data.get("error", {})
            print(f"Error: {error.get('message')}")
            print(f"Type: {error.get('type')}")
            print(f"Code: {error.get('code')}")
            return None

        result = response.json()
        return result["choices"][0]["text"]

    except requests.exceptions.RequestException as e:
        print(f"Request failed: {str(e)}")
        return None

# Usage
text = ocr_with_error_handling(
    "https://example.com/document.jpg",
    "your_api_key_here"
)

if text:
    print("Extracted:", text)
